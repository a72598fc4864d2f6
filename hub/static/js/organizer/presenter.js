// One poll's results for a projector: the question and big bars, live from
// `event.{id}.polls`, full screen on request.

import { pollsById } from "./polls.js";
import { useLive } from "./dashboard.js";
import { Results } from "./results.js";
import { ErrorNote, html } from "./ui.js";

export function Presenter({ t, format, event, client, pollId }) {
  const { state: polls, error } = useLive(client, `event.${event.id}.polls`, pollsById);
  const poll = polls?.get(pollId);
  const wide = () => document.querySelector(".presenter")?.requestFullscreen().catch(() => {});
  return html`<section class="presenter" aria-labelledby="presenter-title">
    <${ErrorNote} t=${t} error=${error} />
    ${polls === null && !error && html`<p role="status">${t("organizer.loading")}</p>`}
    ${polls !== null && poll === undefined && html`<p>${t("organizer.presenter.gone")}</p>`}
    ${poll &&
    html`<h2 id="presenter-title" data-testid="presenter-question">${poll.question}</h2>
      <div aria-live="polite"><${Results} t=${t} format=${format} poll=${poll} /></div>`}
    <p class="presenter-tools">
      <button type="button" onClick=${wide}>${t("organizer.presenter.fullscreen")}</button>
      <a href=${`#event/${event.id}/polls`}>${t("organizer.presenter.back")}</a>
    </p>
  </section>`;
}
