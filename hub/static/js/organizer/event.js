// One event opened in the console: its heading and times in its own time
// zone, then one view at a time, chosen in the URL's fragment: the live
// dashboard, the seat map, announcements, door devices, polls, questions, its setup (fields, ticket types, gates), exports; or a poll alone for a projector.

import { formatters } from "../i18n.js";
import { Announcements } from "./announce.js";
import { Dashboard } from "./dashboard.js";
import { Exports } from "./exports.js";
import { Pairing } from "./pairing.js";
import { Polls } from "./polls.js";
import { Presenter } from "./presenter.js";
import { Questions } from "./qa.js";
import { SeatEditor } from "./seateditor.js";
import { SeatMap } from "./seatmap.js";
import { Setup } from "./setup.js";
import { ErrorNote, React, html } from "./ui.js";

/** The live seat map, and the form adding sections to it (the map reloads by itself). */
function Seats(props) {
  return html`<${SeatMap} ...${props} /><${SeatEditor} ...${props} />`;
}

function views(t) {
  return [
    ["dashboard", t("organizer.view.dashboard"), Dashboard],
    ["seats", t("organizer.view.seats"), Seats],
    ["announce", t("organizer.view.announce"), Announcements],
    ["doors", t("organizer.view.doors"), Pairing],
    ["polls", t("organizer.view.polls"), Polls],
    ["qa", t("organizer.view.qa"), Questions],
    ["setup", t("organizer.view.setup"), Setup],
    ["exports", t("organizer.view.exports"), Exports],
  ];
}

export function EventView({ t, language, client, org, eventId, view, detail }) {
  const [event, setEvent] = React.useState(null);
  const [error, setError] = React.useState(null);

  React.useEffect(() => {
    let current = true;
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
  if (view === "present") {
    return html`<${Presenter} t=${t} format=${format} event=${event} client=${client}
      pollId=${Number(detail)} />`;
  }
  const shown = views(t);
  const [current, , View] = shown.find(([name]) => name === view) ?? shown[0];
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
    <nav aria-label=${t("organizer.view.label")} class="views">
      ${shown.map(
        ([name, label]) => html`<a key=${name} href=${`#event/${event.id}/${name}`}
          aria-current=${name === current ? "page" : undefined}>${label}</a>`,
      )}
    </nav>
    <${View} t=${t} format=${format} event=${event} client=${client} org=${org} onChanged=${setEvent} />
  </article>`;
}
