// Choosing seats: the canvas, and for the keyboard and screen readers a
// section and row chooser with a checkbox per seat; both pick the same set,
// which `seats.hold` then takes whole or not at all.

import htm from "../../vendor/htm.module.js";
import { SeatCanvas, layout } from "./seatmap.js";

const { createElement, useEffect, useMemo, useState } = window.React;
const html = htm.bind(createElement);
const MAX_PICKED = 100; // seats.hold takes at most 100 seat ids

function stateName(t, state) {
  if (state === "held") return t("attendee.seats.held");
  if (state === "sold") return t("attendee.seats.sold");
  return t("attendee.seats.available");
}

export function SeatPicker({ t, client, eventId, live, onHold }) {
  const [map, setMap] = useState(null);
  const [error, setError] = useState(null);
  const [picked, setPicked] = useState([]);
  const [where, setWhere] = useState(0); // the index of the row shown in the chooser

  useEffect(() => {
    client.rpc("seats.map", { event_id: eventId }).then(setMap).catch(setError);
  }, [client, eventId, live?.map]);

  const plan = useMemo(() => map && layout(map), [map]);
  if (error) return html`<p role="alert" class="error" data-code=${error.code}>${t("attendee.error", { code: error.code })}</p>`;
  if (plan === null) return null;
  if (plan.seats.length === 0) return html`<p>${t("attendee.seats.no_map")}</p>`;

  const byId = new Map(plan.seats.map((seat) => [seat.id, seat]));
  const stateOf = (id) => (live ? live.seats.get(id)?.state : byId.get(id)?.state) ?? "sold";
  const rows = [...new Set(plan.seats.map((seat) => `${seat.section}\u0000${seat.row}`))];
  const row = rows[Math.min(where, rows.length - 1)];
  const toggle = (id) =>
    setPicked((now) => (now.includes(id) ? now.filter((p) => p !== id) : [...now, id].slice(0, MAX_PICKED)));
  const name = (seat) => t("attendee.seats.seat", { section: seat.section, row: seat.row, seat: seat.label });
  // A picked seat someone else took meanwhile cannot be held: it is dropped from the pick.
  const holdable = picked.filter((id) => stateOf(id) === "available");

  return html`<div>
    <${SeatCanvas} t=${t} plan=${plan} stateOf=${stateOf} picked=${holdable} onToggle=${toggle} />
    <label>${t("attendee.seats.row")}
      <select value=${rows.indexOf(row)} onChange=${(e) => setWhere(Number(e.target.value))}>
        ${rows.map((key, index) => {
          const [section, rowName] = key.split("\u0000");
          return html`<option key=${key} value=${index}>${t("attendee.seats.row_option", { section, row: rowName })}</option>`;
        })}
      </select>
    </label>
    <fieldset>
      <legend>${t("attendee.seats.in_row")}</legend>
      ${plan.seats
        .filter((seat) => `${seat.section}\u0000${seat.row}` === row)
        .map((seat) => {
          const state = stateOf(seat.id);
          return html`<label key=${seat.id} class="inline">
            <input type="checkbox" checked=${holdable.includes(seat.id)} disabled=${state !== "available"}
              onChange=${() => toggle(seat.id)} />
            ${t("attendee.seats.checkbox", { seat: seat.label, state: stateName(t, state) })}
          </label>`;
        })}
    </fieldset>
    <p aria-live="polite" data-testid="picked">
      ${holdable.length === 0 ? t("attendee.seats.none_picked") : t("attendee.seats.picked", { seats: holdable.map((id) => name(byId.get(id))).join(", ") })}
    </p>
    <button type="button" disabled=${holdable.length === 0} onClick=${() => onHold(holdable)}>
      ${t("attendee.seats.hold")}
    </button>
  </div>`;
}
