// A poll's results as people read them: bars for choices, ratings and
// rankings, a word cloud for words, a quiz session's leaderboard. Every figure is also text, so the bars'
// lengths are never the only way to read them.

import { html } from "./ui.js";

const share = (n, total) => (total > 0 ? Math.round((100 * n) / total) : 0);

/** Rows of [label, value] for the bars of a tally, in the order to show them. */
export function bars(poll) {
  const { kind, options, tally } = poll;
  if (kind === "rating") return tally.counts.map((n, i) => [String(i + 1), n]);
  if (kind === "ranking") return tally.order.map((i) => [options[i], tally.points[i]]);
  return options.map((option, i) => [option, tally.counts[i]]);
}

function Bars({ t, format, poll }) {
  const rows = bars(poll);
  const total = poll.kind === "ranking" ? rows.reduce((sum, [, n]) => sum + n, 0) : poll.tally.voters;
  return html`<ul class="bars" data-testid="bars">
    ${rows.map(([label, n], i) => {
      const percent = share(n, total);
      return html`<li key=${i} data-label=${label}>
        <span class="bar-label">
          ${label}${poll.kind === "quiz" && poll.correct === i && ` ✓ ${t("organizer.results.correct")}`}
        </span>
        <span class="bar-track"><span class="bar" style=${{ width: `${percent}%` }}></span></span>
        <span class="bar-value" data-testid="bar-value">
          ${poll.kind === "ranking"
            ? t("organizer.results.points", { points: format.number(n) })
            : t("organizer.results.votes", { votes: format.number(n), percent: format.number(percent) })}
        </span>
      </li>`;
    })}
  </ul>`;
}

function Cloud({ format, poll }) {
  const words = poll.tally.words;
  const most = Math.max(1, ...words.map(({ count }) => count));
  return html`<ul class="cloud" data-testid="cloud">
    ${words.map(
      ({ word, count }) => html`<li key=${word} style=${{ fontSize: `${1 + (2 * count) / most}em` }}>
        ${word} <small>(${format.number(count)})</small>
      </li>`,
    )}
  </ul>`;
}

export function Results({ t, format, poll }) {
  if (poll.tally === null) return html`<p>${t("organizer.results.hidden")}</p>`;
  return html`<div class="results">
    <p data-testid="voters">${t("organizer.results.voters", { voters: format.number(poll.tally.voters) })}
      ${poll.kind === "rating" && poll.tally.average !== null &&
      ` ${t("organizer.results.average", { average: format.number(poll.tally.average) })}`}
    </p>
    ${poll.kind === "words" ? html`<${Cloud} format=${format} poll=${poll} />` : html`<${Bars} t=${t} format=${format} poll=${poll} />`}
  </div>`;
}

/** A quiz session's leaderboard: the top players by points (equal points share a rank). */
export function Leaderboard({ t, format, board }) {
  return html`<table class="types leaderboard" data-testid="leaderboard">
    <caption>${t("organizer.results.leaderboard", { players: format.number(board.players) })}</caption>
    <thead><tr>
      <th scope="col">${t("organizer.results.rank")}</th>
      <th scope="col">${t("organizer.results.player")}</th>
      <th scope="col">${t("organizer.results.score")}</th>
    </tr></thead>
    <tbody>
      ${board.top.map((player) => html`<tr key=${player.sub}>
        <td>${format.number(player.rank)}</td><th scope="row">${player.sub}</th><td>${format.number(player.score)}</td>
      </tr>`)}
    </tbody>
  </table>`;
}
