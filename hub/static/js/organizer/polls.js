// Polls of an event: sessions to hold them, a form creating one, opening and
// closing it, and the results moving live from `event.{id}.polls`
// (docs/engagement.md §Channel); a presenter view shows one on a projector.

import { useLive } from "./dashboard.js";
import { Results } from "./results.js";
import { SessionPicker, useSessions } from "./sessions.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

const WITH_OPTIONS = new Set(["single", "multiple", "ranking"]);

/** The event's polls by id, from the channel's snapshot and publications. */
export function pollsById(shown, { snapshot, data }) {
  if (snapshot) return new Map(snapshot.polls.map((poll) => [poll.id, poll]));
  const polls = new Map(shown ?? []);
  if (data?.type === "poll") polls.set(data.poll.id, data.poll);
  if (data?.type === "poll_deleted") polls.delete(data.poll_id);
  return polls;
}

function kinds(t) {
  return {
    single: t("organizer.polls.kind.single"),
    multiple: t("organizer.polls.kind.multiple"),
    rating: t("organizer.polls.kind.rating"),
    words: t("organizer.polls.kind.words"),
    ranking: t("organizer.polls.kind.ranking"),
  };
}

function statuses(t) {
  return {
    draft: t("organizer.polls.status.draft"),
    open: t("organizer.polls.status.open"),
    closed: t("organizer.polls.status.closed"),
  };
}

function NewPoll({ t, client, sessionId }) {
  const [question, setQuestion] = React.useState("");
  const [kind, setKind] = React.useState("single");
  const [options, setOptions] = React.useState("");
  const { submit, error, busy } = useSubmit(async () => {
    const params = { session_id: sessionId, question, kind };
    if (WITH_OPTIONS.has(kind)) params.options = options.split("\n").map((o) => o.trim()).filter(Boolean);
    await client.rpc("polls.create", params);
    setQuestion("");
    setOptions("");
  });
  const names = kinds(t);
  return html`<form onSubmit=${submit}>
    <label>${t("organizer.polls.question")}
      <input required maxlength="500" value=${question} onInput=${(e) => setQuestion(e.target.value)} />
    </label>
    <label>${t("organizer.polls.kind")}
      <select value=${kind} onChange=${(e) => setKind(e.target.value)}>
        ${Object.entries(names).map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
      </select>
    </label>
    ${WITH_OPTIONS.has(kind) &&
    html`<label>${t("organizer.polls.options")}
      <textarea required rows="4" value=${options} onInput=${(e) => setOptions(e.target.value)}></textarea>
    </label>`}
    <${ErrorNote} t=${t} error=${error} />
    <button type="submit" disabled=${busy}>${t("organizer.polls.create")}</button>
  </form>`;
}

function Poll({ t, format, event, client, poll }) {
  const [error, setError] = React.useState(null);
  async function change(method) {
    setError(null);
    try {
      await client.rpc(method, { poll_id: poll.id });
    } catch (failure) {
      setError(failure);
    }
  }
  const status = statuses(t)[poll.status] ?? poll.status;
  return html`<li class="poll card" data-testid="poll" data-status=${poll.status}>
    <h4>${poll.question}</h4>
    <p>${kinds(t)[poll.kind] ?? poll.kind} · <strong data-testid="poll-status">${status}</strong></p>
    <div class="actions">
      ${poll.status !== "open" &&
      html`<button type="button" onClick=${() => change("polls.open")}>
        ${poll.status === "draft" ? t("organizer.polls.open") : t("organizer.polls.reopen")}
      </button>`}
      ${poll.status === "open" &&
      html`<button type="button" onClick=${() => change("polls.close")}>${t("organizer.polls.close")}</button>`}
      <a href=${`#event/${event.id}/present/${poll.id}`}>${t("organizer.polls.present")}</a>
    </div>
    <${ErrorNote} t=${t} error=${error} />
    ${poll.status !== "draft" && html`<${Results} t=${t} format=${format} poll=${poll} />`}
  </li>`;
}

export function Polls({ t, format, event, client }) {
  const sessions = useSessions(client, event);
  const { state: polls, error } = useLive(client, `event.${event.id}.polls`, pollsById);
  const { sessionId } = sessions;
  const shown = [...(polls?.values() ?? [])].filter((poll) => poll.session_id === sessionId);
  return html`<section aria-labelledby="polls-title" class="card">
    <h2 id="polls-title">${t("organizer.polls.title")}</h2>
    <${ErrorNote} t=${t} error=${sessions.error ?? error} />
    <${SessionPicker} t=${t} event=${event} client=${client} sessions=${sessions} />
    ${sessionId !== null &&
    html`<h3>${t("organizer.polls.new")}</h3>
      <${NewPoll} t=${t} client=${client} sessionId=${sessionId} />
      <ul class="polls" aria-live="polite">
        ${shown.map((poll) => html`<${Poll} key=${poll.id} t=${t} format=${format} event=${event}
          client=${client} poll=${poll} />`)}
      </ul>`}
  </section>`;
}
