// The ballot of each poll kind (docs/engagement.md, the kinds table): one
// option, several, a rating of 1 to 5, a few words, or every option ranked.

import htm from "../../vendor/htm.module.js";

const { createElement, useState } = window.React;
const html = htm.bind(createElement);

function Choices({ poll, type, values, picked, onPick }) {
  return values.map(
    ({ value, label }) => html`<label key=${value} class="choice">
      <input type=${type} name=${`poll-${poll.id}`} value=${value}
        checked=${type === "radio" ? picked === value : picked.includes(value)}
        onChange=${() => onPick(value)} />
      ${label}
    </label>`,
  );
}

function Ranking({ t, poll, order, setOrder }) {
  function move(at, by) {
    const next = [...order];
    [next[at], next[at + by]] = [next[at + by], next[at]];
    setOrder(next);
  }
  return html`<ol>
    ${order.map(
      (option, at) => html`<li key=${option}>
        ${poll.options[option]}
        <button type="button" disabled=${at === 0} onClick=${() => move(at, -1)}
          aria-label=${t("attendee.poll.move_up", { option: poll.options[option] })}>↑</button>
        <button type="button" disabled=${at === order.length - 1} onClick=${() => move(at, 1)}
          aria-label=${t("attendee.poll.move_down", { option: poll.options[option] })}>↓</button>
      </li>`,
    )}
  </ol>`;
}

/** The ballot for `poll`; `onVote(choice)` sends it. */
export function VoteForm({ t, poll, onVote }) {
  const [single, setSingle] = useState(null);
  const [several, setSeveral] = useState([]);
  const [words, setWords] = useState("");
  const [order, setOrder] = useState(() => (poll.options ?? []).map((_, i) => i));
  const options = (poll.options ?? []).map((label, value) => ({ value, label }));
  const ratings = [1, 2, 3, 4, 5].map((value) => ({ value, label: String(value) }));
  const choice = {
    single,
    quiz: single,
    rating: single,
    multiple: several,
    words: words.trim(),
    ranking: order,
  }[poll.kind];
  const ready = !(choice === null || choice === "" || (Array.isArray(choice) && choice.length === 0));
  const toggle = (value) =>
    setSeveral((now) => (now.includes(value) ? now.filter((v) => v !== value) : [...now, value].sort()));

  let ballot;
  if (poll.kind === "multiple") ballot = html`<${Choices} poll=${poll} type="checkbox" values=${options} picked=${several} onPick=${toggle} />`;
  else if (poll.kind === "rating") ballot = html`<${Choices} poll=${poll} type="radio" values=${ratings} picked=${single} onPick=${setSingle} />`;
  else if (poll.kind === "words") {
    ballot = html`<label>${t("attendee.poll.words")}
      <input type="text" maxlength="40" value=${words} onInput=${(e) => setWords(e.target.value)} />
    </label>`;
  } else if (poll.kind === "ranking") ballot = html`<${Ranking} t=${t} poll=${poll} order=${order} setOrder=${setOrder} />`;
  else ballot = html`<${Choices} poll=${poll} type="radio" values=${options} picked=${single} onPick=${setSingle} />`;

  function submit(event) {
    event.preventDefault();
    if (ready) onVote(choice);
  }
  return html`<form onSubmit=${submit}>
    <fieldset>
      <legend>${t("attendee.poll.your_answer")}</legend>
      ${ballot}
    </fieldset>
    <button type="submit" disabled=${!ready}>${t("attendee.poll.vote")}</button>
  </form>`;
}
