// The Q&A moderation queue: every question of a session, pending and hidden
// ones included (`qa.list` as organizers see it), with approve, hide, answered
// and pin. It is read again whenever the room's list (`event.{id}.qa`) or the
// dashboard's count of open questions changes, since a question waiting for
// approval changes only the latter (docs/engagement.md §Q&A).

import { useLive } from "./live.js";
import { SessionPicker, useSessions } from "./sessions.js";
import { ErrorNote, React, html } from "./ui.js";

const changes = (count) => (count ?? 0) + 1;

function states(t) {
  return {
    visible: t("organizer.qa.state.visible"),
    pending: t("organizer.qa.state.pending"),
    hidden: t("organizer.qa.state.hidden"),
  };
}

/** The moderation buttons a question offers in its state: [action, label]. */
function actions(t, question) {
  return [
    question.state !== "visible" && ["approve", t("organizer.qa.approve")],
    question.state !== "hidden" && ["hide", t("organizer.qa.hide")],
    !question.answered && ["answered", t("organizer.qa.answered")],
    question.pinned ? ["unpin", t("organizer.qa.unpin")] : ["pin", t("organizer.qa.pin")],
  ].filter(Boolean);
}

function ApprovalSetting({ t, event, client }) {
  const [required, setRequired] = React.useState(null);
  const [error, setError] = React.useState(null);
  React.useEffect(() => {
    client.rpc("qa.settings", { event_id: event.id }).then((s) => setRequired(s.require_approval), setError);
  }, [client, event.id]);
  async function change(next) {
    setError(null);
    try {
      setRequired((await client.rpc("qa.settings", { event_id: event.id, require_approval: next })).require_approval);
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<div>
    <label class="check">
      <input type="checkbox" checked=${required === true} disabled=${required === null}
        onChange=${(e) => change(e.target.checked)} />
      ${t("organizer.qa.require_approval")}
    </label>
    <${ErrorNote} t=${t} error=${error} />
  </div>`;
}

function Question({ t, format, event, client, question, onChanged }) {
  const [error, setError] = React.useState(null);
  async function moderate(action) {
    setError(null);
    try {
      await client.rpc("qa.moderate", { event_id: event.id, question_id: question.id, action });
      onChanged();
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<li class="question card" data-testid="question" data-state=${question.state}>
    <p class="question-text">${question.text}</p>
    <p class="hint">
      ${states(t)[question.state] ?? question.state}
      ${question.answered && ` · ${t("organizer.qa.is_answered")}`}
      ${question.pinned && ` · ${t("organizer.qa.is_pinned")}`}
      · ${t("organizer.qa.votes", { votes: format.number(question.votes) })}
      · ${question.author ?? t("organizer.qa.anonymous")}
    </p>
    <div class="actions">
      ${actions(t, question).map(
        ([action, label]) => html`<button key=${action} type="button" onClick=${() => moderate(action)}>${label}</button>`,
      )}
    </div>
    <${ErrorNote} t=${t} error=${error} />
  </li>`;
}

export function Questions({ t, format, event, client }) {
  const sessions = useSessions(client, event);
  const { sessionId } = sessions;
  const room = useLive(client, `event.${event.id}.qa`, changes);
  const board = useLive(client, `event.${event.id}.dashboard`, (_, { snapshot, data }) => snapshot ?? data);
  const [asked, setAsked] = React.useState(0);
  const [questions, setQuestions] = React.useState(null);
  const [error, setError] = React.useState(null);
  const open = board.state?.questions.open;

  React.useEffect(() => {
    if (sessionId === null) return undefined;
    let current = true;
    client
      .rpc("qa.list", { event_id: event.id, session_id: sessionId })
      .then((found) => current && setQuestions(found.questions))
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [client, event.id, sessionId, room.state, open, asked]);

  const waiting = (questions ?? []).filter((q) => q.state === "pending").length;
  return html`<section aria-labelledby="qa-title" class="card">
    <h2 id="qa-title">${t("organizer.qa.title")}</h2>
    <${ErrorNote} t=${t} error=${sessions.error ?? room.error ?? board.error ?? error} />
    <${ApprovalSetting} t=${t} event=${event} client=${client} />
    <${SessionPicker} t=${t} event=${event} client=${client} sessions=${sessions} />
    ${questions !== null &&
    html`<p role="status" data-testid="qa-summary">
        ${t("organizer.qa.summary", { total: format.number(questions.length), waiting: format.number(waiting) })}
      </p>
      <ul class="questions">
        ${questions.map((question) => html`<${Question} key=${question.id} t=${t} format=${format}
          event=${event} client=${client} question=${question} onChanged=${() => setAsked((n) => n + 1)} />`)}
      </ul>`}
  </section>`;
}
