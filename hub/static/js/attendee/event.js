// The signed-in part of /e/{event_id}: the event, live, for any signed-in
// attendee (the token names the event: docs/accounts.md §Attendees).

import htm from "../../vendor/htm.module.js";
import { formatters } from "../i18n.js";
import { Announcements } from "./announcements.js";
import { Buy } from "./buy.js";
import { useLive, useUserFeed } from "./live.js";
import { LiveSession } from "./session.js";

const { createElement } = window.React;
const html = htm.bind(createElement);

function Connection({ t, state }) {
  return html`<p role="status" aria-live="polite">
    ${t("attendee.live.state")} <strong data-testid="state" data-state=${state}>${t(`state.${state}`)}</strong>
  </p>`;
}

function Failure({ t, error }) {
  return html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`;
}

/** The event's header and its live parts, once connected. */
export function LiveEvent({ t, language, eventId, attendee, onBought }) {
  const { client, state, event, error } = useLive(eventId);
  const { feed, error: feedError } = useUserFeed(client, attendee);
  const local = event && formatters(language, { timeZone: event.timezone });
  return html`<section aria-labelledby="event-title">
    ${event
      ? html`<h2 id="event-title" data-testid="event-name">${event.name}</h2>
          <p data-testid="event-date">${t("attendee.event.when", { start: local.date(event.starts_at), zone: event.timezone })}</p>`
      : html`<h2 id="event-title">${t("attendee.event.loading")}</h2>`}
    <${Connection} t=${t} state=${state} />
    ${error && html`<${Failure} t=${t} error=${error} />`}
    ${feedError && html`<${Failure} t=${t} error=${feedError} />`}
    ${event && html`<${Announcements} t=${t} format=${local} client=${client} eventId=${eventId} />
      <${Buy} t=${t} format=${local} client=${client} feed=${feed} eventId=${eventId} attendee=${attendee} onBought=${onBought} />
      <${LiveSession} t=${t} format=${local} client=${client} feed=${feed} eventId=${eventId} attendee=${attendee} />`}
  </section>`;
}
