// Adding a section to the seat map from a simple form: rows of equal length,
// numbered from 1, sold as one ticket type; previewed on a canvas as the map
// will draw it before `seats.create` (docs/allocation.md §Seat maps).

import { layout } from "./seatlayout.js";
import { ErrorNote, React, html, useSubmit } from "./ui.js";

const PREVIEW_WIDTH = 600;
const PREVIEW_HEIGHT = 300;
const MAX_ROWS = 2000;
const MAX_SEATS = 1000;

/** The section as `seats.create` takes it. */
function sectionOf({ name, ticketTypeId, rows, seats }) {
  const section = {
    name,
    rows: Array.from({ length: rows }, (_, r) => ({ name: String(r + 1), seats })),
  };
  if (ticketTypeId) section.ticket_type_id = Number(ticketTypeId);
  return section;
}

/** The same section in the shape `seats.map` answers, for the layout to place. */
function previewMap(section) {
  let next = 1;
  return {
    sections: [{
      name: section.name,
      rows: section.rows.map((row) => {
        const ids = [[next, row.seats]];
        next += row.seats;
        return { name: row.name, labels: null, ids };
      }),
    }],
  };
}

function Preview({ t, section }) {
  const canvas = React.useRef(null);
  const plan = React.useMemo(() => layout(previewMap(section), PREVIEW_WIDTH, PREVIEW_HEIGHT), [section]);
  React.useLayoutEffect(() => {
    const element = canvas.current;
    element.width = plan.width;
    element.height = plan.height;
    const context = element.getContext("2d");
    context.fillStyle = getComputedStyle(element).color;
    context.font = "12px system-ui, sans-serif";
    context.textBaseline = "top";
    context.fillText(section.name, 0, 0, plan.width);
    context.fillStyle = "#2e7d32";
    const size = Math.max(1, plan.cell - (plan.cell > 3 ? 1 : 0));
    for (let i = 0; i < plan.total; i += 1) context.fillRect(plan.seats.x[i], plan.seats.y[i], size, size);
  }, [plan]);
  const seats = section.rows.length * (section.rows[0]?.seats ?? 0);
  return html`<figure class="preview">
    <canvas ref=${canvas} role="img" data-testid="section-preview"
      aria-label=${t("organizer.editor.preview_label", { rows: section.rows.length, seats })}></canvas>
    <figcaption>${t("organizer.editor.preview_label", { rows: section.rows.length, seats })}</figcaption>
  </figure>`;
}

export function SeatEditor({ t, event, client }) {
  const [types, setTypes] = React.useState([]);
  const [fields, setFields] = React.useState({ name: "", ticketTypeId: "", rows: "10", seats: "20" });
  const [added, setAdded] = React.useState(null);
  React.useEffect(() => {
    client.rpc("tickettypes.list", { event_id: event.id }).then((found) => setTypes(found.ticket_types), () => {});
  }, [client, event.id]);
  const set = (name) => (e) => setFields({ ...fields, [name]: e.target.value });
  const rows = Math.min(MAX_ROWS, Math.max(0, Math.floor(Number(fields.rows) || 0)));
  const seats = Math.min(MAX_SEATS, Math.max(0, Math.floor(Number(fields.seats) || 0)));
  const section = React.useMemo(
    () => sectionOf({ name: fields.name, ticketTypeId: fields.ticketTypeId, rows, seats }),
    [fields.name, fields.ticketTypeId, rows, seats],
  );
  const { submit, error, busy } = useSubmit(async () => {
    setAdded(null);
    const created = await client.rpc("seats.create", { event_id: event.id, sections: [section] }, { timeoutMs: 120000 });
    setAdded(created);
    setFields({ ...fields, name: "" });
  });

  return html`<section aria-labelledby="editor-title" class="card">
    <h2 id="editor-title">${t("organizer.editor.title")}</h2>
    <form onSubmit=${submit}>
      <label>${t("organizer.editor.name")}
        <input required maxlength="100" value=${fields.name} onInput=${set("name")} />
      </label>
      <label>${t("organizer.editor.type")}
        <select value=${fields.ticketTypeId} onChange=${set("ticketTypeId")}>
          <option value="">${t("organizer.editor.not_for_sale")}</option>
          ${types.map((type) => html`<option key=${type.id} value=${type.id}>${type.name}</option>`)}
        </select>
      </label>
      <label>${t("organizer.editor.rows")}
        <input type="number" required min="1" max=${MAX_ROWS} value=${fields.rows} onInput=${set("rows")} />
      </label>
      <label>${t("organizer.editor.seats")}
        <input type="number" required min="1" max=${MAX_SEATS} value=${fields.seats} onInput=${set("seats")} />
      </label>
      ${rows > 0 && seats > 0 && html`<${Preview} t=${t} section=${section} />`}
      <${ErrorNote} t=${t} error=${error} />
      <button type="submit" disabled=${busy}>${t("organizer.editor.add")}</button>
    </form>
    <p role="status" data-testid="section-added">
      ${added && t("organizer.editor.added", { seats: added.seats })}
    </p>
  </section>`;
}
