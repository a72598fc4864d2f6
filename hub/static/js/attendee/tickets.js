// "My tickets": every ticket bought with the attendee's address, each with its
// QR code. The list is saved in localStorage once loaded, so a page that loses
// the network keeps showing it, a refresh that fails falls back to it, and a
// page opened offline (served by sw.js) shows it for the attendee saved with it.

import htm from "../../vendor/htm.module.js";
import { everything } from "./api.js";
import { QrCode } from "./qr.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);
const SAVED = "bilten.attendee.tickets";
// Tickets span events in several zones and carry none: times are the reader's, zone named.
const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const FIELDS = ["id", "event_id", "event_name", "starts_at", "holder", "state", "code"];

function saved() {
  try {
    return JSON.parse(localStorage.getItem(SAVED) ?? "null");
  } catch {
    return null;
  }
}

function load(attendee) {
  const found = saved();
  return found?.attendee?.id === attendee.id ? found : null;
}

/** The attendee whose tickets this device saved (`{id, email}`), or null. */
export function savedAttendee() {
  return saved()?.attendee ?? null;
}

function save(attendee, tickets) {
  const kept = tickets.map((ticket) => Object.fromEntries(FIELDS.map((f) => [f, ticket[f]])));
  const record = { attendee: { id: attendee.id, email: attendee.email }, at: Date.now(), tickets: kept };
  try {
    localStorage.setItem(SAVED, JSON.stringify(record));
  } catch {
    // storage full or refused: the list lasts for this page only
  }
  return record;
}

/** Forget the saved tickets (signing out). */
export function forgetTickets() {
  try {
    localStorage.removeItem(SAVED);
  } catch {
    // nothing was saved
  }
}

function useOnline() {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    addEventListener("online", up);
    addEventListener("offline", down);
    return () => {
      removeEventListener("online", up);
      removeEventListener("offline", down);
    };
  }, []);
  return online;
}

function Ticket({ t, format, ticket }) {
  return html`<li class="ticket" data-testid="ticket" data-code=${ticket.code}>
    <${QrCode} text=${ticket.code} label=${t("attendee.tickets.qr", { holder: ticket.holder })} />
    <div>
      <strong>${ticket.event_name}</strong>
      <div>${t("attendee.tickets.when", { start: format.date(ticket.starts_at), zone: LOCAL_ZONE })}</div>
      <div>${t("attendee.tickets.holder", { holder: ticket.holder })}</div>
      <div>${ticket.state === "valid" ? t("attendee.tickets.valid") : t("attendee.tickets.revoked")}</div>
      <code class="code">${ticket.code}</code>
    </div>
  </li>`;
}

/** The attendee's tickets; `version` changes when a purchase adds some. */
export function MyTickets({ t, format, attendee, version }) {
  const [shown, setShown] = useState(() => load(attendee));
  const [fresh, setFresh] = useState(false);
  const [error, setError] = useState(null);
  const online = useOnline();

  async function refresh() {
    setError(null);
    try {
      setShown(save(attendee, await everything("tickets", 20)));
      setFresh(true);
    } catch (failure) {
      setError(failure);
      setFresh(false);
    }
  }

  useEffect(() => {
    refresh();
  }, [attendee.id, version]);

  const tickets = shown?.tickets ?? [];
  return html`<section aria-labelledby="tickets-title">
    <h2 id="tickets-title">${t("attendee.tickets.title")}</h2>
    <div role="status" aria-live="polite" data-testid="tickets-status">
      ${!online && html`<p>${t("attendee.tickets.offline")}</p>`}
      ${shown && !fresh && error && html`<p>${t("attendee.tickets.saved", { at: format.date(shown.at) })}</p>`}
    </div>
    ${error && !shown && html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`}
    ${shown && tickets.length === 0 && html`<p>${t("attendee.tickets.none")}</p>`}
    <ul class="tickets">
      ${tickets.map((ticket) => html`<${Ticket} key=${ticket.id} t=${t} format=${format} ticket=${ticket} />`)}
    </ul>
    <button type="button" onClick=${refresh}>${t("attendee.tickets.refresh")}</button>
  </section>`;
}
