// Reactions: tap one, and see the room's, counted per quarter second on
// event.{id}.reactions (not stateful: counts since this page opened).
// docs/engagement.md §Reactions.

import htm from "../../vendor/htm.module.js";
import { useChannel } from "./live.js";

const { createElement, useState } = window.React;
const html = htm.bind(createElement);
const REACTIONS = ["👍", "👏", "🔥", "😂", "😮", "🎉"]; // protocol/qa.REACTIONS

function add(totals, { session_id: session, counts }) {
  const sum = { ...totals[session] };
  for (const [emoji, count] of Object.entries(counts)) sum[emoji] = (sum[emoji] ?? 0) + count;
  return { ...totals, [session]: sum };
}

export function Reactions({ t, format, client, eventId, sessionId }) {
  const [bySession, setTotals] = useState({}); // session id → emoji → count
  const [error, setError] = useState(null);
  useChannel(
    client,
    `event.${eventId}.reactions`,
    {
      onPublication: ({ data }) => setTotals((now) => add(now, data)),
    },
    setError,
  );

  const totals = bySession[sessionId] ?? {};

  function send(emoji) {
    setError(null);
    client.rpc("reactions.send", { event_id: eventId, session_id: sessionId, emoji }).catch(setError);
  }

  return html`<section aria-labelledby="reactions-title">
    <h3 id="reactions-title">${t("attendee.reactions.title")}</h3>
    <div role="group" aria-labelledby="reactions-title" class="reactions">
      ${REACTIONS.map(
        (emoji) => html`<button key=${emoji} type="button" onClick=${() => send(emoji)}
          aria-label=${t("attendee.reactions.send", { emoji, count: format.number(totals[emoji] ?? 0) })}
          data-testid="reaction">
          ${emoji} <span data-testid="reaction-count">${format.number(totals[emoji] ?? 0)}</span>
        </button>`,
      )}
    </div>
    <div role="status" aria-live="polite">
      ${error && (error.code === "rate_limited"
        ? t("attendee.reactions.slow_down", { seconds: error.details?.retry_after ?? 10 })
        : t("attendee.error", { code: error.code }))}
    </div>
  </section>`;
}
