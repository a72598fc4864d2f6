// The seat map coloured by state, live: one canvas however many seats (50,000
// are 50,000 squares drawn, not 50,000 elements). The map's shape comes from
// `seats.map`, the states from `event.{id}.seats`; a change repaints only the
// seats it names. Colour is not the only signal: the counts are written out,
// and the seat under the pointer or the keyboard cursor is named with its state.

import { Resync, SeatStates } from "./seatstate.js";
import { subscribeWhenFree } from "./live.js";
import { layout, rowStep, seatAt, seatName } from "./seatlayout.js";
import { ErrorNote, React, html } from "./ui.js";

const WIDTH = 1000;
const MAX_HEIGHT = 700;
const COLOURS = ["#2e7d32", "#f9a825", "#b71c1c"]; // available, held, sold
const CURSOR = "#1565c0";
const MAP_TIMEOUT_MS = 60000; // a stadium's map is a large answer

function stateNames(t) {
  return [t("organizer.seats.available"), t("organizer.seats.held"), t("organizer.seats.sold")];
}

function paint(context, plan, live, places) {
  const size = Math.max(1, plan.cell - (plan.cell > 3 ? 1 : 0));
  for (const i of places) {
    context.fillStyle = COLOURS[live.states[i]];
    context.fillRect(plan.seats.x[i], plan.seats.y[i], size, size);
  }
}

function paintAll(context, plan, live) {
  context.clearRect(0, 0, plan.width, plan.height);
  context.fillStyle = getComputedStyle(context.canvas).color;
  context.font = "12px system-ui, sans-serif";
  context.textBaseline = "top";
  for (const block of plan.labels) context.fillText(block.name, block.x, block.y, block.w);
  paint(context, plan, live, plan.seats.x.keys());
}

function paintCursor(context, plan, live, previous, next) {
  if (previous >= 0) {
    context.clearRect(plan.seats.x[previous], plan.seats.y[previous], plan.cell, plan.cell);
    paint(context, plan, live, [previous]);
  }
  if (next >= 0 && plan.cell >= 6) {
    // Inside the seat's cell, so that clearing the cell takes it away.
    context.strokeStyle = CURSOR;
    context.lineWidth = 2;
    context.strokeRect(plan.seats.x[next] + 1, plan.seats.y[next] + 1, plan.cell - 3, plan.cell - 3);
  }
}

export function SeatMap({ t, format, event, client }) {
  const [generation, setGeneration] = React.useState(0); // a new map: load it again
  const [plan, setPlan] = React.useState(null);
  const [counts, setCounts] = React.useState(null);
  const [cursor, setCursor] = React.useState(-1);
  const [error, setError] = React.useState(null);
  const canvas = React.useRef(null);
  const live = React.useRef(null);
  const shownCursor = React.useRef(-1);

  React.useEffect(() => {
    let current = true;
    let subscription = null;
    let frame = 0;
    let dirty = [];
    const resync = () => current && setGeneration((n) => n + 1);
    const flush = () => {
      frame = 0;
      const context = canvas.current?.getContext("2d");
      if (!context || !live.current) return;
      if (dirty === null) paintAll(context, live.current.plan, live.current.states);
      else paint(context, live.current.plan, live.current.states, dirty);
      paintCursor(context, live.current.plan, live.current.states, -1, shownCursor.current);
      dirty = [];
      setCounts([...live.current.states.counts]);
    };
    const redraw = (places) => {
      dirty = places === null || dirty === null ? null : dirty.concat(places);
      if (!frame) frame = requestAnimationFrame(flush);
    };
    const take = (work) => {
      try {
        work();
      } catch (failure) {
        if (failure instanceof Resync) resync();
        else throw failure;
      }
    };
    (async () => {
      const map = await client.rpc("seats.map", { event_id: event.id }, { timeoutMs: MAP_TIMEOUT_MS });
      if (!current) return;
      const drawn = layout(map, WIDTH, MAX_HEIGHT);
      live.current = { plan: drawn, states: new SeatStates(drawn.index) };
      setPlan(drawn);
      const handlers = {
        onSubscribed: ({ snapshot }) =>
          snapshot && take(() => {
            live.current.states.fromSnapshot(snapshot);
            redraw(null);
          }),
        onPublication: ({ data, offset, epoch }) =>
          take(() => redraw(live.current.states.apply(data, offset, epoch))),
        onError: (failure) => current && setError(failure),
      };
      subscription = await subscribeWhenFree(client, `event.${event.id}.seats`, handlers, () => current);
      if (!current) subscription.unsubscribe().catch(() => {});
    })().catch((failure) => current && setError(failure));
    return () => {
      current = false;
      cancelAnimationFrame(frame);
      subscription?.unsubscribe().catch(() => {});
      live.current = null;
    };
  }, [client, event.id, generation]);

  React.useLayoutEffect(() => {
    const element = canvas.current;
    if (!plan || !element) return;
    const ratio = window.devicePixelRatio || 1;
    element.width = plan.width * ratio;
    element.height = plan.height * ratio;
    element.style.width = `${plan.width}px`;
    element.style.height = `${plan.height}px`;
    const context = element.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (live.current) paintAll(context, plan, live.current.states);
  }, [plan]);

  function moveTo(next) {
    const context = canvas.current?.getContext("2d");
    if (context && live.current) paintCursor(context, plan, live.current.states, shownCursor.current, next);
    shownCursor.current = next;
    setCursor(next);
  }

  function onKeyDown(e) {
    if (!plan || plan.total === 0) return;
    const at = Math.max(0, cursor);
    const moves = {
      ArrowRight: Math.min(plan.total - 1, at + 1),
      ArrowLeft: Math.max(0, at - 1),
      ArrowDown: rowStep(plan, at, 1),
      ArrowUp: rowStep(plan, at, -1),
      Home: 0,
      End: plan.total - 1,
    };
    if (!(e.key in moves)) return;
    e.preventDefault();
    moveTo(cursor < 0 ? 0 : moves[e.key]);
  }

  function onPointer(e) {
    const box = canvas.current.getBoundingClientRect();
    const seat = seatAt(plan, e.clientX - box.left, e.clientY - box.top);
    if (seat >= 0) moveTo(seat);
  }

  const names = stateNames(t);
  const described =
    cursor >= 0 && live.current
      ? t("organizer.seats.cursor", { ...seatName(plan, cursor), state: names[live.current.states.states[cursor]] })
      : t("organizer.seats.how");
  return html`<section aria-labelledby="seats-title" class="card">
    <h2 id="seats-title">${t("organizer.seats.title")}</h2>
    <${ErrorNote} t=${t} error=${error} />
    ${!plan && !error && html`<p role="status">${t("organizer.loading")}</p>`}
    ${plan?.total === 0 && html`<p>${t("organizer.seats.none")}</p>`}
    ${counts &&
    html`<ul class="legend" data-testid="seat-counts">
      ${names.map((name, state) => html`<li key=${state} data-state=${state}>
        <span class=${`swatch swatch-${state}`} aria-hidden="true"></span>
        ${t("organizer.seats.count", { name, count: format.number(counts[state]) })}
      </li>`)}
    </ul>`}
    ${plan?.total > 0 &&
    html`<div class="seatmap">
      <canvas ref=${canvas} tabIndex="0" role="img" data-testid="seat-canvas"
        aria-label=${t("organizer.seats.label", { seats: format.number(plan.total) })}
        aria-describedby="seat-cursor" onKeyDown=${onKeyDown} onClick=${onPointer}></canvas>
      <p id="seat-cursor" aria-live="polite" data-testid="seat-cursor">${described}</p>
    </div>`}
  </section>`;
}
