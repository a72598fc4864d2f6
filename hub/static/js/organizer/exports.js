// An event's exports (docs/insight.md §Exports) as downloads: the files take a
// bearer token, not the session cookie, so the page fetches each with a fresh
// connection token and hands the browser the body to save.

import { connectionToken } from "./api.js";
import { BiltenError } from "../bilten.js";
import { ErrorNote, React, html } from "./ui.js";

const NAMES = ["checkins", "orders", "tickets", "polls"];
const FORMATS = ["csv", "json"];

async function download(org, eventId, name, format) {
  const token = await connectionToken(org);
  const response = await fetch(`/api/v1/events/${eventId}/exports/${name}.${format}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw BiltenError.fromWire((await response.json().catch(() => null))?.error);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = `event-${eventId}-${name}.${format}`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function Exports({ t, event, org }) {
  const [busy, setBusy] = React.useState(null);
  const [error, setError] = React.useState(null);
  const names = {
    checkins: t("organizer.exports.checkins"),
    orders: t("organizer.exports.orders"),
    tickets: t("organizer.exports.tickets"),
    polls: t("organizer.exports.polls"),
  };
  async function fetchFile(name, format) {
    setError(null);
    setBusy(`${name}.${format}`);
    try {
      await download(org, event.id, name, format);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  }
  return html`<section aria-labelledby="exports-title" class="card">
    <h2 id="exports-title">${t("organizer.exports.title")}</h2>
    <p class="hint">${t("organizer.exports.explain")}</p>
    <${ErrorNote} t=${t} error=${error} />
    <ul class="exports">
      ${NAMES.map((name) => html`<li key=${name}>
        <span>${names[name]}</span>
        ${FORMATS.map((format) => html`<button key=${format} type="button" disabled=${busy !== null}
          aria-label=${t("organizer.exports.download", { what: names[name], format: format.toUpperCase() })}
          onClick=${() => fetchFile(name, format)}>${format.toUpperCase()}</button>`)}
      </li>`)}
    </ul>
    <p role="status">${busy && t("organizer.exports.busy")}</p>
  </section>`;
}
