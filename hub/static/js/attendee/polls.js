// The session's polls and quizzes, live from event.{id}.polls (stateful: the
// snapshot holds every poll, each publication one poll's whole state). Drafts
// are not shown; the newest poll comes first. An attendee votes once, then
// sees the results as the poll allows (docs/engagement.md §Results).

import htm from "../../vendor/htm.module.js";
import { useChannel } from "./live.js";
import { PollResults } from "./pollresults.js";
import { VoteForm } from "./pollvote.js";
import { Leaderboard, useQuizRank } from "./quiz.js";
import { done, remember } from "./remembered.js";

const { createElement, useState } = window.React;
const html = htm.bind(createElement);

function applyPolls(polls, data) {
  const next = new Map(polls);
  if (data.type === "poll") next.set(data.poll.id, data.poll);
  else if (data.type === "poll_deleted") next.delete(data.poll_id);
  return next;
}

function Poll({ t, format, client, poll, attendee }) {
  const [voted, setVoted] = useState(() => done(attendee.id, `vote:${poll.id}`));
  const [error, setError] = useState(null);

  async function send(choice) {
    setError(null);
    try {
      await client.rpc("polls.vote", { poll_id: poll.id, choice });
      remember(attendee.id, `vote:${poll.id}`);
      setVoted(true);
    } catch (failure) {
      if (failure.code === "already_voted") {
        remember(attendee.id, `vote:${poll.id}`);
        setVoted(true);
      } else setError(failure);
    }
  }

  const open = poll.status === "open";
  return html`<article class="poll" data-testid="poll" data-poll=${poll.id} aria-labelledby=${`poll-${poll.id}`}>
    <h4 id=${`poll-${poll.id}`}>${poll.question}</h4>
    <p>${open ? t("attendee.poll.open") : t("attendee.poll.closed")}
      ${poll.kind === "quiz" && open && ` ${t("attendee.poll.quiz_time", { seconds: format.number(poll.time_limit_s) })}`}</p>
    ${open && !voted && html`<${VoteForm} t=${t} poll=${poll} onVote=${send} />`}
    <div role="status" aria-live="polite">
      ${voted && html`<p data-testid="voted">${t("attendee.poll.voted")}</p>`}
      ${error && html`<p class="error" data-code=${error.code}>${error.code === "poll_closed" ? t("attendee.poll.too_late") : t("attendee.error", { code: error.code })}</p>`}
    </div>
    ${(voted || !open) && html`<${PollResults} t=${t} format=${format} poll=${poll} />`}
  </article>`;
}

export function Polls({ t, format, client, feed, eventId, sessionId, attendee }) {
  const [polls, setPolls] = useState(new Map());
  const [boards, setBoards] = useState({}); // session id → its latest leaderboard
  const rank = useQuizRank(feed, eventId, sessionId);
  const [error, setError] = useState(null);
  useChannel(
    client,
    `event.${eventId}.polls`,
    {
      onSubscribed: ({ recovered, snapshot }) => {
        if (!recovered && snapshot) setPolls(new Map(snapshot.polls.map((p) => [p.id, p])));
      },
      onPublication: ({ data }) => {
        if (data.type === "leaderboard") setBoards((now) => ({ ...now, [data.session_id]: data }));
        else setPolls((now) => applyPolls(now, data));
      },
    },
    setError,
  );
  const shown = [...polls.values()]
    .filter((p) => p.session_id === sessionId && p.status !== "draft")
    .sort((a, b) => b.id - a.id);
  return html`<section aria-labelledby="polls-title">
    <h3 id="polls-title">${t("attendee.polls.title")}</h3>
    ${error && html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`}
    ${shown.length === 0 && html`<p>${t("attendee.polls.none")}</p>`}
    ${boards[sessionId] && html`<${Leaderboard} t=${t} format=${format} board=${boards[sessionId]} rank=${rank} attendee=${attendee} />`}
    ${shown.map((poll) => html`<${Poll} key=${poll.id} t=${t} format=${format} client=${client} poll=${poll} attendee=${attendee} />`)}
  </section>`;
}
