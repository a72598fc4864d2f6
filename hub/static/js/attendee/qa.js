// The session's questions, live from event.{id}.qa (stateful: each
// publication is one session's whole visible list): ask one, upvote others,
// take an upvote back (docs/engagement.md §Q&A).

import htm from "../../vendor/htm.module.js";
import { useChannel } from "./live.js";
import { done, remember } from "./remembered.js";

const { createElement, useState } = window.React;
const html = htm.bind(createElement);

function Ask({ t, client, eventId, sessionId }) {
  const [text, setText] = useState("");
  const [anonymous, setAnonymous] = useState(false);
  const [outcome, setOutcome] = useState(null); // {question} or {error}

  async function ask(event) {
    event.preventDefault();
    setOutcome(null);
    try {
      const question = await client.rpc("qa.ask", { event_id: eventId, session_id: sessionId, text, anonymous });
      setText("");
      setOutcome({ question });
    } catch (error) {
      setOutcome({ error });
    }
  }

  const error = outcome?.error;
  return html`<form onSubmit=${ask}>
    <label>${t("attendee.qa.question")}
      <textarea required maxlength="500" rows="2" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
    </label>
    <label class="inline"><input type="checkbox" checked=${anonymous} onChange=${(e) => setAnonymous(e.target.checked)} />
      ${t("attendee.qa.anonymous")}</label>
    <button type="submit">${t("attendee.qa.ask")}</button>
    <div role="status" aria-live="polite" data-testid="ask-status">
      ${outcome?.question && (outcome.question.state === "pending" ? t("attendee.qa.pending") : t("attendee.qa.asked"))}
      ${error && (error.code === "rate_limited"
        ? t("attendee.qa.slow_down", { seconds: error.details?.retry_after ?? 60 })
        : t("attendee.error", { code: error.code }))}
    </div>
  </form>`;
}

function Question({ t, format, client, eventId, question, attendee }) {
  const mark = `upvote:${question.id}`;
  const [upvoted, setUpvoted] = useState(() => done(attendee.id, mark));
  const [error, setError] = useState(null);

  async function toggle() {
    setError(null);
    const withdraw = upvoted;
    try {
      await client.rpc("qa.upvote", { event_id: eventId, question_id: question.id, withdraw });
    } catch (failure) {
      if (!["already_upvoted", "not_upvoted"].includes(failure.code)) {
        setError(failure);
        return;
      }
    }
    remember(attendee.id, mark, !withdraw);
    setUpvoted(!withdraw);
  }

  return html`<li data-testid="question" data-question=${question.id}>
    <p>${question.text}</p>
    <p>
      ${t("attendee.qa.votes", { count: format.number(question.votes) })}
      ${question.pinned && ` · ${t("attendee.qa.pinned")}`}
      ${question.answered && ` · ${t("attendee.qa.answered")}`}
      ${" "}<button type="button" aria-pressed=${upvoted ? "true" : "false"} onClick=${toggle}>
        ${upvoted ? t("attendee.qa.upvoted") : t("attendee.qa.upvote")}
      </button>
    </p>
    ${error && html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`}
  </li>`;
}

export function Questions({ t, format, client, eventId, sessionId, attendee }) {
  const [lists, setLists] = useState(new Map());
  const [error, setError] = useState(null);
  useChannel(
    client,
    `event.${eventId}.qa`,
    {
      onSubscribed: ({ recovered, snapshot }) => {
        if (!recovered && snapshot) setLists(new Map(snapshot.sessions.map((s) => [s.session_id, s.questions])));
      },
      onPublication: ({ data }) => setLists((now) => new Map(now).set(data.session_id, data.questions)),
    },
    setError,
  );
  const questions = lists.get(sessionId) ?? [];
  return html`<section aria-labelledby="qa-title">
    <h3 id="qa-title">${t("attendee.qa.title")}</h3>
    ${error && html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`}
    <${Ask} t=${t} client=${client} eventId=${eventId} sessionId=${sessionId} />
    ${questions.length === 0 && html`<p>${t("attendee.qa.none")}</p>`}
    <ol class="questions" data-testid="questions">
      ${questions.map((q) => html`<${Question} key=${q.id} t=${t} format=${format} client=${client} eventId=${eventId} question=${q} attendee=${attendee} />`)}
    </ol>
  </section>`;
}
