// The event's block list for word answers (polls.blocklist, polls.blocklist.set):
// words refused in answers from then on, stored normalised and sorted.

import { ErrorNote, React, html, useSubmit } from "./ui.js";

export function Blocklist({ t, event, client }) {
  const [words, setWords] = React.useState("");
  const [stored, setStored] = React.useState(null);
  const [error, setError] = React.useState(null);
  React.useEffect(() => {
    client.rpc("polls.blocklist", { event_id: event.id }).then((found) => {
      setWords(found.words.join("\n"));
      setStored(found.words);
    }, setError);
  }, [client, event.id]);
  const { submit, error: refused, busy } = useSubmit(async () => {
    const list = words.split("\n").map((w) => w.trim()).filter(Boolean);
    const found = await client.rpc("polls.blocklist.set", { event_id: event.id, words: list });
    setWords(found.words.join("\n"));
    setStored(found.words);
  });
  return html`<details class="card">
    <summary>${t("organizer.blocklist.title")}</summary>
    <${ErrorNote} t=${t} error=${error} />
    <form onSubmit=${submit}>
      <label>${t("organizer.blocklist.words")}
        <textarea rows="4" value=${words} onInput=${(e) => setWords(e.target.value)}></textarea>
      </label>
      <${ErrorNote} t=${t} error=${refused} />
      <button type="submit" disabled=${busy}>${t("organizer.blocklist.save")}</button>
    </form>
    <p role="status" data-testid="blocklist-count">
      ${stored && t("organizer.blocklist.count", { count: stored.length })}
    </p>
  </details>`;
}
