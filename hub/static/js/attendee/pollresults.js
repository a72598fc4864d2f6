// A poll's tally as the channel shows it to attendees: null while the
// organizers keep it hidden, else per kind (docs/engagement.md, the kinds
// table). A quiz's right answer is named once the question is closed.

import htm from "../../vendor/htm.module.js";

const { createElement } = window.React;
const html = htm.bind(createElement);

function percent(count, voters) {
  return voters ? Math.round((100 * count) / voters) : 0;
}

function Bars({ t, format, labels, counts, voters, correct }) {
  return html`<ul class="results">
    ${labels.map(
      (label, i) => html`<li key=${i}>
        ${t("attendee.poll.count", { option: label, count: format.number(counts[i] ?? 0), percent: format.number(percent(counts[i] ?? 0, voters)) })}
        ${correct === i && html` <strong>${t("attendee.poll.correct")}</strong>`}
        <progress max=${voters || 1} value=${counts[i] ?? 0} aria-label=${label}></progress>
      </li>`,
    )}
  </ul>`;
}

export function PollResults({ t, format, poll }) {
  const tally = poll.tally;
  if (tally === null) return html`<p data-testid="results-hidden">${t("attendee.poll.hidden")}</p>`;
  let shown;
  if (poll.kind === "words") {
    shown = html`<ul>${tally.words.map((w) => html`<li key=${w.word}>${t("attendee.poll.word", { word: w.word, count: format.number(w.count) })}</li>`)}</ul>`;
  } else if (poll.kind === "ranking") {
    shown = html`<ol>${tally.order.map((i) => html`<li key=${i}>${t("attendee.poll.points", { option: poll.options[i], points: format.number(tally.points[i]) })}</li>`)}</ol>`;
  } else if (poll.kind === "rating") {
    shown = html`<${Bars} t=${t} format=${format} labels=${["1", "2", "3", "4", "5"]} counts=${tally.counts} voters=${tally.voters} />
      ${tally.average !== null && html`<p>${t("attendee.poll.average", { average: format.number(tally.average) })}</p>`}`;
  } else {
    shown = html`<${Bars} t=${t} format=${format} labels=${poll.options} counts=${tally.counts} voters=${tally.voters} correct=${poll.correct} />`;
  }
  return html`<div data-testid="results">
    <p>${t("attendee.poll.voters", { count: format.number(tally.voters) })}</p>
    ${shown}
  </div>`;
}
