// One poll's results for a projector: the question and big bars (and, once a
// quiz question closes, the session's leaderboard), live from
// `event.{id}.polls`, full screen on request.

import { pollFeed } from "./polls.js";
import { useLive } from "./live.js";
import { Leaderboard, Results } from "./results.js";
import { ErrorNote, html } from "./ui.js";

export function Presenter({ t, format, event, client, pollId }) {
  const { state: feed, error } = useLive(client, `event.${event.id}.polls`, pollFeed);
  const poll = feed?.polls.get(pollId);
  const board = poll && feed.boards.get(poll.session_id);
  const wide = () => document.querySelector(".presenter")?.requestFullscreen().catch(() => {});
  return html`<section class="presenter" aria-labelledby="presenter-title">
    <${ErrorNote} t=${t} error=${error} />
    ${feed === null && !error && html`<p role="status">${t("organizer.loading")}</p>`}
    ${feed !== null && poll === undefined && html`<p>${t("organizer.presenter.gone")}</p>`}
    ${poll &&
    html`<h2 id="presenter-title" data-testid="presenter-question">${poll.question}</h2>
      <div aria-live="polite">
        <${Results} t=${t} format=${format} poll=${poll} />
        ${board?.poll_id === poll.id && html`<${Leaderboard} t=${t} format=${format} board=${board} />`}
      </div>`}
    <p class="presenter-tools">
      <button type="button" onClick=${wide}>${t("organizer.presenter.fullscreen")}</button>
      <a href=${`#event/${event.id}/polls`}>${t("organizer.presenter.back")}</a>
    </p>
  </section>`;
}
