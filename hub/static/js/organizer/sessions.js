// An event's sessions (talks, slots), which polls and questions belong to:
// the list, the one chosen, a form adding one, and deleting the chosen one
// with its polls (docs/engagement.md §Sessions).

import { ErrorNote, React, html, useSubmit } from "./ui.js";

/**
 * The event's sessions and the chosen one's id; `added` takes a new session and
 * chooses it, `removed` drops a deleted one.
 */
export function useSessions(client, event) {
  const [sessions, setSessions] = React.useState(null);
  const [sessionId, setSessionId] = React.useState(null);
  const [error, setError] = React.useState(null);
  React.useEffect(() => {
    let current = true;
    client
      .rpc("sessions.list", { event_id: event.id })
      .then((found) => {
        if (!current) return;
        setSessions(found.sessions);
        setSessionId(found.sessions[0]?.id ?? null);
      })
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [client, event.id]);
  function added(session) {
    setSessions((known) => [...known, session]);
    setSessionId(session.id);
  }
  function removed(id) {
    const left = sessions.filter((session) => session.id !== id);
    setSessions(left);
    setSessionId(left[0]?.id ?? null);
  }
  return { sessions, sessionId, setSessionId, added, removed, error };
}

/** The session chooser and the form adding a session. */
export function SessionPicker({ t, event, client, sessions }) {
  const [title, setTitle] = React.useState("");
  const { submit, error, busy } = useSubmit(async () => {
    sessions.added(await client.rpc("sessions.create", { event_id: event.id, title }));
    setTitle("");
  });
  const [refused, setRefused] = React.useState(null);
  const chosen = sessions.sessions?.find((s) => s.id === sessions.sessionId);
  async function remove() {
    if (!window.confirm(t("organizer.sessions.delete_confirm", { title: chosen.title }))) return;
    setRefused(null);
    try {
      await client.rpc("sessions.delete", { session_id: chosen.id });
      sessions.removed(chosen.id);
    } catch (failure) {
      setRefused(failure);
    }
  }
  if (sessions.sessions === null) {
    return sessions.error ? null : html`<p role="status">${t("organizer.loading")}</p>`;
  }
  return html`<div>
    ${sessions.sessions.length > 0 &&
    html`<label>${t("organizer.sessions.session")}
      <select value=${sessions.sessionId ?? ""} onChange=${(e) => sessions.setSessionId(Number(e.target.value))}>
        ${sessions.sessions.map((s) => html`<option key=${s.id} value=${s.id}>${s.title}</option>`)}
      </select>
    </label>
    <button type="button" onClick=${remove}>${t("organizer.sessions.delete", { title: chosen?.title ?? "" })}</button>
    <${ErrorNote} t=${t} error=${refused} />`}
    <form onSubmit=${submit} class="inline">
      <label>${t("organizer.sessions.title")}
        <input required maxlength="200" value=${title} onInput=${(e) => setTitle(e.target.value)} />
      </label>
      <button type="submit" disabled=${busy}>${t("organizer.sessions.add")}</button>
    </form>
    <${ErrorNote} t=${t} error=${error} />
  </div>`;
}
