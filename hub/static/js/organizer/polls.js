// Polls of an event: sessions to hold them, a form creating one, opening and
// closing it, and the results moving live from `event.{id}.polls`
// (docs/engagement.md §Channel); a presenter view shows one on a projector.

import { useLive } from "./live.js";
import { Blocklist } from "./blocklist.js";
import { Leaderboard, Results } from "./results.js";
import { SessionPicker, useSessions } from "./sessions.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

const WITH_OPTIONS = new Set(["single", "multiple", "ranking", "quiz"]);

/**
 * The event's polls by id and the latest quiz leaderboard of each session, from
 * the channel's snapshot and publications (the snapshot holds no leaderboard).
 */
export function pollFeed(shown, { snapshot, data }) {
  if (snapshot) {
    return { polls: new Map(snapshot.polls.map((poll) => [poll.id, poll])), boards: shown?.boards ?? new Map() };
  }
  const polls = new Map(shown?.polls ?? []);
  const boards = new Map(shown?.boards ?? []);
  if (data?.type === "poll") polls.set(data.poll.id, data.poll);
  if (data?.type === "poll_deleted") polls.delete(data.poll_id);
  if (data?.type === "leaderboard") boards.set(data.session_id, data);
  return { polls, boards };
}

function kinds(t) {
  return {
    single: t("organizer.polls.kind.single"),
    quiz: t("organizer.polls.kind.quiz"),
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
  const [correct, setCorrect] = React.useState("1");
  const [limit, setLimit] = React.useState("30");
  const [hidden, setHidden] = React.useState(false);
  const { submit, error, busy } = useSubmit(async () => {
    const params = { session_id: sessionId, question, kind, results: hidden ? "on_close" : "live" };
    if (WITH_OPTIONS.has(kind)) params.options = options.split("\n").map((o) => o.trim()).filter(Boolean);
    if (kind === "quiz") Object.assign(params, { correct: Number(correct) - 1, time_limit_s: Number(limit) });
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
    ${kind === "quiz" &&
    html`<label>${t("organizer.polls.correct")}
        <input type="number" required min="1" max="20" value=${correct} onInput=${(e) => setCorrect(e.target.value)} />
      </label>
      <label>${t("organizer.polls.time_limit")}
        <input type="number" required min="5" max="600" value=${limit} onInput=${(e) => setLimit(e.target.value)} />
      </label>`}
    <label class="check">
      <input type="checkbox" checked=${hidden} onChange=${(e) => setHidden(e.target.checked)} />
      ${t("organizer.polls.on_close")}
    </label>
    <${ErrorNote} t=${t} error=${error} />
    <button type="submit" disabled=${busy}>${t("organizer.polls.create")}</button>
  </form>`;
}

/** An organizer's own view of a poll whose results the room does not see yet. */
function useCounts(client, poll) {
  const [counted, setCounted] = React.useState(null);
  const hidden = poll.tally === null && poll.status !== "draft";
  React.useEffect(() => {
    if (!hidden) return undefined;
    let current = true;
    client.rpc("polls.results", { poll_id: poll.id }).then((found) => current && setCounted(found), () => {});
    return () => {
      current = false;
    };
  }, [client, poll, hidden]);
  return hidden ? counted : poll;
}

function Poll({ t, format, event, client, poll }) {
  const [error, setError] = React.useState(null);
  const shown = useCounts(client, poll);
  async function change(method) {
    setError(null);
    try {
      await client.rpc(method, { poll_id: poll.id });
    } catch (failure) {
      setError(failure);
    }
  }
  function remove() {
    if (window.confirm(t("organizer.polls.delete_confirm", { question: poll.question }))) change("polls.delete");
  }
  function reset() {
    if (window.confirm(t("organizer.polls.reset_confirm", { question: poll.question }))) change("polls.reset");
  }
  const status = statuses(t)[poll.status] ?? poll.status;
  const hidden = poll.tally === null && poll.status !== "draft";
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
      ${hidden &&
      html`<button type="button" onClick=${() => change("polls.reveal")}>${t("organizer.polls.reveal")}</button>`}
      <a href=${`#event/${event.id}/present/${poll.id}`}>${t("organizer.polls.present")}</a>
      ${poll.status !== "draft" &&
      html`<button type="button" onClick=${reset}>${t("organizer.polls.reset")}</button>`}
      <button type="button" onClick=${remove}>${t("organizer.polls.delete")}</button>
    </div>
    <${ErrorNote} t=${t} error=${error} />
    ${hidden && html`<p class="hint" data-testid="hidden-note">${t("organizer.polls.hidden_note")}</p>`}
    ${shown && poll.status !== "draft" && html`<${Results} t=${t} format=${format} poll=${shown} />`}
  </li>`;
}

export function Polls({ t, format, event, client }) {
  const sessions = useSessions(client, event);
  const { state: feed, error } = useLive(client, `event.${event.id}.polls`, pollFeed);
  const { sessionId } = sessions;
  const shown = [...(feed?.polls.values() ?? [])].filter((poll) => poll.session_id === sessionId);
  const board = feed?.boards.get(sessionId);
  return html`<section aria-labelledby="polls-title" class="card">
    <h2 id="polls-title">${t("organizer.polls.title")}</h2>
    <${ErrorNote} t=${t} error=${sessions.error ?? error} />
    <${SessionPicker} t=${t} event=${event} client=${client} sessions=${sessions} />
    ${sessionId !== null &&
    html`<h3>${t("organizer.polls.new")}</h3>
      <${NewPoll} t=${t} client=${client} sessionId=${sessionId} />
      ${board && html`<${Leaderboard} t=${t} format=${format} board=${board} />`}
      <ul class="polls" aria-live="polite">
        ${shown.map((poll) => html`<${Poll} key=${poll.id} t=${t} format=${format} event=${event}
          client=${client} poll=${poll} />`)}
      </ul>`}
    <${Blocklist} t=${t} event=${event} client=${client} />
  </section>`;
}
