// A hold being bought: what is held, a countdown to its end (the hub's
// `expires_at`), and the two ways out: confirm (an order, without payment,
// which is out of scope) or release.

import htm from "../../vendor/htm.module.js";
import { layout } from "./seatmap.js";

const { createElement, useEffect, useState } = window.React;
const html = htm.bind(createElement);

/** Whole seconds left until `expiresAt` (an ISO time), never below zero. */
export function secondsLeft(expiresAt, now = Date.now()) {
  return Math.max(0, Math.ceil((Date.parse(expiresAt) - now) / 1000));
}

function useSecondsLeft(expiresAt) {
  const [left, setLeft] = useState(() => secondsLeft(expiresAt));
  useEffect(() => {
    const timer = setInterval(() => setLeft(secondsLeft(expiresAt)), 250);
    return () => clearInterval(timer);
  }, [expiresAt]);
  return left;
}

/** The names of a hold's seats ("Balkon, row 1, seat 2"), read from the seat map. */
function useSeatNames(t, client, hold) {
  const [names, setNames] = useState([]);
  useEffect(() => {
    if (!hold.seat_ids?.length) return;
    client
      .rpc("seats.map", { event_id: hold.event_id })
      .then((map) => {
        const byId = new Map(layout(map).seats.map((seat) => [seat.id, seat]));
        setNames(
          hold.seat_ids
            .map((id) => byId.get(id))
            .filter(Boolean)
            .map((seat) => t("attendee.seats.seat", { section: seat.section, row: seat.row, seat: seat.label })),
        );
      })
      .catch(() => setNames([])); // the count and amount are still shown
  }, [client, hold.hold_id]);
  return names;
}

function clock(seconds) {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

export function Hold({ t, format, client, feed, hold, attendee, onBought, onEnd }) {
  const left = useSecondsLeft(hold.expires_at);
  const [warned, setWarned] = useState(false);
  const seatNames = useSeatNames(t, client, hold);
  const [holder, setHolder] = useState("");
  const [order, setOrder] = useState(null);
  const [outcome, setOutcome] = useState(null); // expired, released, or a BiltenError
  const expired = left === 0 || outcome === "expired";

  // The hub's own word on this hold (docs/allocation.md §Expiry), beside the page's clock.
  useEffect(
    () =>
      feed.listen((data) => {
        if (data.hold_id !== hold.hold_id) return;
        if (data.type === "hold.expiring") setWarned(true);
        if (data.type === "hold.expired") setOutcome("expired");
      }),
    [feed, hold.hold_id],
  );

  async function confirm() {
    try {
      const params = { hold_id: hold.hold_id, email: attendee.email };
      if (holder.trim()) params.holder = holder.trim();
      const answer = await client.rpc("seats.confirm", params);
      if (answer.status === "confirmed") {
        setOrder(answer);
        onBought();
      } else setOutcome(answer.reason);
    } catch (failure) {
      setOutcome(failure);
    }
  }

  async function release() {
    try {
      await client.rpc("seats.release", { hold_id: hold.hold_id });
      onEnd();
    } catch (failure) {
      setOutcome(failure);
    }
  }

  if (order) {
    return html`<div role="status" aria-live="polite" data-testid="order">
      <p>${t("attendee.buy.confirmed", { order: order.order_id, count: format.number(order.tickets.length) })}</p>
      <button type="button" onClick=${onEnd}>${t("attendee.buy.again")}</button>
    </div>`;
  }
  return html`<div data-testid="hold">
    <p>${t("attendee.buy.held", { count: format.number(hold.quantity), amount: format.money(hold.amount_minor, hold.currency) })}</p>
    ${seatNames.length > 0 && html`<p data-testid="held-seats">${t("attendee.buy.seats", { seats: seatNames.join("; ") })}</p>`}
    <p>${t("attendee.buy.time_left")} <strong role="timer" data-testid="countdown">${clock(left)}</strong></p>
    <div role="status" aria-live="polite" data-testid="hold-status">
      ${expired && html`<p>${t("attendee.buy.expired")}</p>`}
      ${warned && !expired && html`<p data-testid="expiring">${t("attendee.buy.expiring")}</p>`}
      ${outcome && outcome.code && html`<p class="error" data-code=${outcome.code}>${t("attendee.error", { code: outcome.code })}</p>`}
    </div>
    ${!expired && html`<p>${t("attendee.buy.no_payment")}</p>
      <label>${t("attendee.buy.holder")}
        <input type="text" maxlength="200" autocomplete="name" value=${holder} onInput=${(e) => setHolder(e.target.value)} />
      </label>
      <button type="button" onClick=${confirm}>${t("attendee.buy.confirm")}</button>
      ${" "}<button type="button" onClick=${release}>${t("attendee.buy.release")}</button>`}
    ${expired && html`<button type="button" onClick=${onEnd}>${t("attendee.buy.again")}</button>`}
  </div>`;
}
