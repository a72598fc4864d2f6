// The seat map drawn on a canvas (docs/allocation.md §Seat maps), each seat
// in its live state. Shapes, not only colours, tell the states apart: an
// open square is available, a hatched one held, a crossed one sold, a filled
// one with a tick picked. A click on an available seat picks it; the
// keyboard picker beside it (seatpick.js) does the same for everyone.

import htm from "../../vendor/htm.module.js";
import { decodeStates } from "./seats.js";

const { createElement, useEffect, useRef } = window.React;
const html = htm.bind(createElement);
const CELL = 16; // px per seat, gap included
const SEAT = 12;
const LABEL = 40; // px left of each row for its name
const HEADER = 22; // px above each section for its name

/** Each seat of a seats.map answer with its place and its state then:
 * `{id, section, row, label, state, x, y}`, and the drawing's size. */
export function layout(map) {
  const seats = [];
  let y = 0;
  let width = 0;
  for (const section of map.sections) {
    y += HEADER;
    for (const row of section.rows) {
      let index = 0;
      const states = decodeStates(row.states);
      for (const [first, count] of row.ids) {
        for (let k = 0; k < count; k += 1) {
          const label = row.labels ? row.labels[index] : String(index + 1);
          const place = { x: LABEL + index * CELL, y };
          seats.push({ id: first + k, section: section.name, row: row.name, label, state: states[index], ...place });
          index += 1;
        }
      }
      width = Math.max(width, LABEL + index * CELL);
      y += CELL;
    }
  }
  return { seats, width: Math.max(width, 200), height: y + 4 };
}

function drawSeat(ctx, seat, state, picked) {
  const { x, y } = seat;
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#222";
  if (picked) {
    ctx.fillStyle = "#1a56db";
    ctx.fillRect(x, y, SEAT, SEAT);
    ctx.strokeStyle = "#fff";
    ctx.beginPath();
    ctx.moveTo(x + 2.5, y + 6);
    ctx.lineTo(x + 5, y + 9);
    ctx.lineTo(x + 9.5, y + 3);
    ctx.stroke();
    return;
  }
  ctx.fillStyle = state === "available" ? "#e6f4ea" : state === "held" ? "#f3e2b3" : "#9aa0a6";
  ctx.fillRect(x, y, SEAT, SEAT);
  ctx.strokeRect(x + 0.5, y + 0.5, SEAT - 1, SEAT - 1);
  ctx.beginPath();
  if (state === "held") {
    ctx.moveTo(x, y + SEAT);
    ctx.lineTo(x + SEAT, y);
  } else if (state === "sold") {
    ctx.moveTo(x + 2, y + 2);
    ctx.lineTo(x + SEAT - 2, y + SEAT - 2);
    ctx.moveTo(x + SEAT - 2, y + 2);
    ctx.lineTo(x + 2, y + SEAT - 2);
  }
  ctx.stroke();
}

/** The canvas: `stateOf(id)` gives each seat's live state, `picked` the chosen ids. */
export function SeatCanvas({ t, plan, stateOf, picked, onToggle }) {
  const canvas = useRef(null);

  useEffect(() => {
    const ctx = canvas.current.getContext("2d");
    ctx.clearRect(0, 0, plan.width, plan.height);
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = "#222";
    let shownSection = null;
    let shownRow = null;
    for (const seat of plan.seats) {
      ctx.fillStyle = "#222";
      if (seat.section !== shownSection) {
        ctx.fillText(seat.section, 0, seat.y - 8);
        shownSection = seat.section;
        shownRow = null;
      }
      if (seat.row !== shownRow) {
        ctx.fillText(seat.row, 0, seat.y + 10);
        shownRow = seat.row;
      }
      drawSeat(ctx, seat, stateOf(seat.id), picked.includes(seat.id));
    }
  });

  function click(event) {
    const box = canvas.current.getBoundingClientRect();
    const x = ((event.clientX - box.left) * plan.width) / box.width;
    const y = ((event.clientY - box.top) * plan.height) / box.height;
    const seat = plan.seats.find((s) => x >= s.x && x < s.x + CELL && y >= s.y && y < s.y + CELL);
    if (seat && (stateOf(seat.id) === "available" || picked.includes(seat.id))) onToggle(seat.id);
  }

  return html`<canvas ref=${canvas} width=${plan.width} height=${plan.height} onClick=${click}
    role="img" aria-label=${t("attendee.seats.canvas")} data-testid="seat-canvas"></canvas>
    <p>${t("attendee.seats.legend")}</p>`;
}
