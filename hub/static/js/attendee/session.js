// The live session (docs/engagement.md): choose a session of the event, then
// its polls, its Q&A and its reactions, each on its own channel.

import htm from "../../vendor/htm.module.js";
import { Polls } from "./polls.js";
import { Questions } from "./qa.js";
import { Reactions } from "./reactions.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);

/** The session running now, else the first: `sessions` as sessions.list gives them. */
export function currentSession(sessions, now = Date.now()) {
  const running = sessions.find(
    (s) => s.starts_at && Date.parse(s.starts_at) <= now && (!s.ends_at || now < Date.parse(s.ends_at)),
  );
  return (running ?? sessions[0])?.id ?? null;
}

export function LiveSession({ t, format, client, feed, eventId, attendee }) {
  const [sessions, setSessions] = useState(null);
  const [chosen, setChosen] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    client
      .rpc("sessions.list", { event_id: eventId })
      .then(({ sessions: found }) => {
        setSessions(found);
        setChosen(currentSession(found));
      })
      .catch(setError);
  }, [client, eventId]);

  if (error) return html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`;
  if (sessions === null) return null;
  if (chosen === null) return html`<p>${t("attendee.session.none")}</p>`;
  const shared = { t, format, client, feed, eventId, sessionId: chosen, attendee };
  return html`<section aria-labelledby="session-title">
    <h2 id="session-title">${t("attendee.session.title")}</h2>
    <label>${t("attendee.session.choose")}
      <select value=${chosen} onChange=${(e) => setChosen(Number(e.target.value))} data-testid="session">
        ${sessions.map((s) => html`<option key=${s.id} value=${s.id}>${s.room ? t("attendee.session.in_room", { title: s.title, room: s.room }) : s.title}</option>`)}
      </select>
    </label>
    <${Polls} ...${shared} />
    <${Questions} ...${shared} />
    <${Reactions} ...${shared} />
  </section>`;
}
