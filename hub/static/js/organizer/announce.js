// Announcements: a message from the organizers, published on the event's
// `announcements` channel, which every attendee's page follows. The data is
// `{"text": …}` (docs/web.md §Organizer console).

import { useLive } from "./live.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

const SHOWN = 20;
const MAX_LENGTH = 1000;

/** The latest announcements first, each with its offset; a snapshot (none here) changes nothing. */
const received = (shown, { data, offset }) =>
  data === undefined ? shown : [{ offset, data }, ...(shown ?? [])].slice(0, SHOWN);

/** What an announcement says: its text, or the data as text when it has none. */
const said = (data) => (typeof data?.text === "string" ? data.text : JSON.stringify(data));

export function Announcements({ t, format, event, client }) {
  const [text, setText] = React.useState("");
  const [sent, setSent] = React.useState(null);
  const channel = `event.${event.id}.announcements`;
  const { state: seen, error: followError } = useLive(client, channel, received);
  const { submit, error, busy } = useSubmit(async () => {
    setSent(null);
    const result = await client.rpc("channels.publish", { channel, data: { text } });
    setSent({ offset: result.offset });
    setText("");
  });

  return html`<section aria-labelledby="announce-title" class="card">
    <h2 id="announce-title">${t("organizer.announce.title")}</h2>
    <form onSubmit=${submit}>
      <label>${t("organizer.announce.text")}
        <textarea required maxlength=${MAX_LENGTH} rows="3" value=${text}
          onInput=${(e) => setText(e.target.value)}></textarea>
      </label>
      <${ErrorNote} t=${t} error=${error} />
      <button type="submit" disabled=${busy}>${t("organizer.announce.send")}</button>
    </form>
    <p role="status" aria-live="polite" data-testid="announce-status">
      ${sent && t("organizer.announce.sent", { offset: format.number(sent.offset) })}
    </p>
    <${ErrorNote} t=${t} error=${followError} testId="follow-error" />
    <h3>${t("organizer.announce.recent")}</h3>
    ${!seen?.length && html`<p>${t("organizer.announce.none")}</p>`}
    <ol class="announcements" data-testid="announcements">
      ${(seen ?? []).map(({ offset, data }) => html`<li key=${offset}>${said(data)}</li>`)}
    </ol>
  </section>`;
}
