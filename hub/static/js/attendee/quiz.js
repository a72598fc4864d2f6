// A quiz's standings (docs/engagement.md §Quizzes): the session's top ten,
// published on the polls channel after each question closes, and the
// attendee's own rank, which comes on `user.{sub}` alone.

import htm from "../../vendor/htm.module.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);

/** The attendee's latest `quiz_rank` in a session, from the user feed. */
export function useQuizRank(feed, eventId, sessionId) {
  const [ranks, setRanks] = useState({}); // session id → the latest quiz_rank
  useEffect(
    () =>
      feed.listen((data) => {
        if (data.type === "quiz_rank" && data.event_id === eventId) {
          setRanks((now) => ({ ...now, [data.session_id]: data }));
        }
      }),
    [feed, eventId],
  );
  return ranks[sessionId] ?? null;
}

export function Leaderboard({ t, format, board, rank, attendee }) {
  const me = `attendee-${attendee.id}`;
  return html`<section aria-labelledby="leaderboard-title" data-testid="leaderboard">
    <h4 id="leaderboard-title">${t("attendee.quiz.leaderboard", { players: format.number(board.players) })}</h4>
    <ol>
      ${board.top.map(
        (entry) => html`<li key=${entry.sub}>
          ${t("attendee.quiz.entry", { rank: format.number(entry.rank), player: entry.sub, score: format.number(entry.score) })}
          ${entry.sub === me && html` <strong>${t("attendee.quiz.you")}</strong>`}
        </li>`,
      )}
    </ol>
    ${rank && html`<p role="status" data-testid="my-rank">
      ${t("attendee.quiz.my_rank", { rank: format.number(rank.rank), players: format.number(rank.players), score: format.number(rank.score) })}
    </p>`}
  </section>`;
}
