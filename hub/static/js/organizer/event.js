// One event opened in the console: its heading and times in its own time
// zone, then the live dashboard and the tools acting on it.

import { formatters } from "../i18n.js";
import { Dashboard } from "./dashboard.js";
import { ErrorNote, React, html } from "./ui.js";

export function EventView({ t, language, client, eventId }) {
  const [event, setEvent] = React.useState(null);
  const [error, setError] = React.useState(null);

  React.useEffect(() => {
    let current = true;
    setEvent(null);
    setError(null);
    client
      .rpc("events.get", { event_id: eventId })
      .then((found) => current && setEvent(found))
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [client, eventId]);

  if (error) return html`<${ErrorNote} t=${t} error=${error} />`;
  if (event === null) return html`<p role="status">${t("organizer.loading")}</p>`;
  const format = formatters(language, { timeZone: event.timezone });
  return html`<article aria-labelledby="event-title">
    <p><a href="#">${t("organizer.events.back")}</a></p>
    <h2 id="event-title" data-testid="event-name">${event.name}</h2>
    <p class="hint">
      ${t("organizer.event.when", {
        starts: format.date(event.starts_at),
        ends: format.date(event.ends_at),
        timezone: event.timezone,
      })}
    </p>
    <${Dashboard} t=${t} format=${format} event=${event} client=${client} />
  </article>`;
}
