// Buying (docs/allocation.md §Holds, §Confirming): the best available places
// of a ticket type are held for the buyer, with a live countdown to the
// hold's end, then confirmed as an order in the attendee's name. Payment is
// out of scope: confirming places the order without one, and the page says so.

import htm from "../../vendor/htm.module.js";
import { Hold } from "./hold.js";
import { SeatPicker } from "./seatpick.js";
import { available, useSeats } from "./seats.js";
import { JoinWaitlist, useOffers } from "./waitlist.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);
const MAX_QUANTITY = 10;

function Rejection({ t, rejection }) {
  if (rejection.reason === "unavailable") return t("attendee.buy.unavailable");
  if (rejection.reason === "quota_exhausted") {
    return t("attendee.buy.quota_exhausted", { available: rejection.available });
  }
  if (rejection.reason === "limit_exceeded") {
    return t("attendee.buy.limit_exceeded", { limit: rejection.limit, taken: rejection.taken });
  }
  return t("attendee.error", { code: rejection.reason });
}

function Remaining({ t, format, left }) {
  if (left === null) return t("attendee.buy.unlimited");
  return t("attendee.buy.remaining", { count: format.number(left) });
}

export function Buy({ t, format, client, feed, eventId, attendee, onBought }) {
  const [types, setTypes] = useState(null);
  const [typeId, setTypeId] = useState(null);
  const [quantity, setQuantity] = useState(1);
  const [hold, setHold] = useState(null);
  const [rejection, setRejection] = useState(null);
  const [error, setError] = useState(null);
  const seats = useSeats(client, eventId);

  useEffect(() => {
    client
      .rpc("tickettypes.list", { event_id: eventId })
      .then(({ ticket_types: found }) => {
        setTypes(found);
        setTypeId(found[0]?.id ?? null);
      })
      .catch(setError);
  }, [client, eventId]);

  const [mode, setMode] = useState("best"); // best, or pick (on a map with seated types)
  const [offered, setOffered] = useState(false);
  useOffers(feed, eventId, (offer) => {
    setRejection(null);
    setOffered(true);
    setHold(offer);
  });

  async function ask(params) {
    setRejection(null);
    setOffered(false);
    setError(null);
    try {
      const answer = await client.rpc("seats.hold", { event_id: eventId, ...params });
      if (answer.status === "held") setHold(answer);
      else setRejection(answer);
    } catch (failure) {
      setError(failure);
    }
  }

  function best(event) {
    event.preventDefault();
    ask({ ticket_type_id: typeId, quantity });
  }

  if (types === null) return null;
  const type = types.find((candidate) => candidate.id === typeId);
  // Live from the seats channel once subscribed; until then as the list said.
  const left = seats.view ? available(seats.view, typeId) : type?.remaining;
  return html`<section aria-labelledby="buy-title">
    <h2 id="buy-title">${t("attendee.buy.title")}</h2>
    ${types.length === 0 && html`<p>${t("attendee.buy.nothing")}</p>`}
    ${hold === null && types.some((candidate) => candidate.seated) && html`<fieldset>
      <legend>${t("attendee.buy.how")}</legend>
      <label class="inline"><input type="radio" name="buy-mode" checked=${mode === "best"} onChange=${() => setMode("best")} />
        ${t("attendee.buy.mode_best")}</label>
      <label class="inline"><input type="radio" name="buy-mode" checked=${mode === "pick"} onChange=${() => setMode("pick")} />
        ${t("attendee.buy.mode_pick")}</label>
    </fieldset>`}
    ${hold === null && mode === "pick" && html`<${SeatPicker} t=${t} client=${client} eventId=${eventId}
      live=${seats.view} onHold=${(ids) => ask({ seat_ids: ids })} />`}
    ${types.length > 0 && hold === null && mode === "best" && html`<form onSubmit=${best}>
      <label>${t("attendee.buy.type")}
        <select value=${typeId ?? ""} onChange=${(e) => setTypeId(Number(e.target.value))}>
          ${types.map((candidate) => html`<option key=${candidate.id} value=${candidate.id}>
            ${t("attendee.buy.type_option", { name: candidate.name, price: format.money(candidate.price_minor, candidate.currency) })}
          </option>`)}
        </select>
      </label>
      ${type && html`<p data-testid="remaining" aria-live="polite"><${Remaining} t=${t} format=${format} left=${left} /></p>`}
      <label>${t("attendee.buy.quantity")}
        <input type="number" min="1" max=${MAX_QUANTITY} required value=${quantity}
          onInput=${(e) => setQuantity(Number(e.target.value))} />
      </label>
      <button type="submit">${t("attendee.buy.best")}</button>
    </form>`}
    <div role="status" aria-live="polite" data-testid="buy-status">
      ${rejection && html`<p><${Rejection} t=${t} rejection=${rejection} /></p>`}
      ${offered && html`<p data-testid="offered">${t("attendee.waitlist.offered")}</p>`}
      ${seats.error && html`<p class="error" data-code=${seats.error.code}>${t("attendee.error", { code: seats.error.code })}</p>`}
      ${error && html`<p class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`}
    </div>
    ${rejection && rejection.reason !== "limit_exceeded" && mode === "best" && html`<${JoinWaitlist} key=${`${typeId}:${quantity}`} t=${t} format=${format}
      client=${client} eventId=${eventId} typeId=${typeId} quantity=${quantity} />`}
    ${hold && html`<${Hold} t=${t} format=${format} client=${client} feed=${feed} hold=${hold} attendee=${attendee}
      onBought=${onBought} onEnd=${() => {
        setHold(null);
        setOffered(false);
      }} />`}
  </section>`;
}
