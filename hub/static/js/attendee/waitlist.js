// The waiting list (docs/allocation.md §Waiting lists): after a refusal for
// want of places, join the line for the type; when places free up the worker
// holds them for the attendee and says so on `user.{sub}`, where the page
// takes the offered hold as if the attendee had asked for it.

import htm from "../../vendor/htm.module.js";
const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);

/** Call `onOffer(hold)` for each hold the waiting list offers in this event (on `feed`). */
export function useOffers(feed, eventId, onOffer) {
  useEffect(
    () =>
      feed.listen((data) => {
        if (data.type === "hold.offered" && data.event_id === eventId) onOffer(data);
      }),
    [feed, eventId],
  );
}

/** Join the line for `quantity` places of a type; says the place in line once joined. */
export function JoinWaitlist({ t, format, client, eventId, typeId, quantity }) {
  const [entry, setEntry] = useState(null);
  const [error, setError] = useState(null);

  async function join() {
    setError(null);
    try {
      setEntry(await client.rpc("seats.waitlist.join", { event_id: eventId, ticket_type_id: typeId, quantity }));
    } catch (failure) {
      setError(failure);
    }
  }

  if (entry) {
    return html`<p data-testid="waiting">${t("attendee.waitlist.waiting", { position: format.number(entry.position) })}</p>`;
  }
  return html`<p>
    <button type="button" onClick=${join}>${t("attendee.waitlist.join")}</button>
    ${error && html` <span class="error" data-code=${error.code}>${error.code === "conflict" ? t("attendee.waitlist.enough") : t("attendee.error", { code: error.code })}</span>`}
  </p>`;
}
