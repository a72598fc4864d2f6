// Where each seat of a map is drawn: sections side by side, wrapping like
// words on a line, rows top to bottom, one square cell per seat; the cell is
// the largest that keeps the whole map within a height. Every block starts on
// the cell grid, so the seat under a point is one lookup.

const LABEL = 16; // pixels above a section for its name
const MAX_CELL = 18;
const MIN_CELL = 2;

const onGrid = (pixels, cell) => Math.ceil(pixels / cell) * cell;

function blocks(sections, cell, width) {
  const gap = onGrid(Math.max(8, cell * 2), cell);
  const label = onGrid(LABEL, cell);
  const placed = [];
  let x = 0;
  let y = 0;
  let lineHeight = 0;
  for (const section of sections) {
    const w = Math.max(1, ...section.rows.map((row) => row.count)) * cell;
    const h = label + section.rows.length * cell;
    if (x > 0 && x + w > width) {
      x = 0;
      y += lineHeight + gap;
      lineHeight = 0;
    }
    placed.push({ x, y, w, h });
    x += w + gap;
    lineHeight = Math.max(lineHeight, h);
  }
  return { placed, label, height: y + lineHeight };
}

/**
 * The layout of a `seats.map` answer within `width` pixels, at most `maxHeight`
 * high when the seats allow it: seat positions and names in map order, and a
 * grid for finding the seat under a point.
 */
export function layout(map, width, maxHeight) {
  const sections = map.sections.map((section) => ({
    name: section.name,
    rows: section.rows.map((row) => ({
      name: row.name,
      labels: row.labels,
      ids: row.ids,
      count: row.ids.reduce((sum, [, count]) => sum + count, 0),
    })),
  }));
  let cell = MAX_CELL;
  let placed = blocks(sections, cell, width);
  while (cell > MIN_CELL && placed.height > maxHeight) {
    cell -= 1;
    placed = blocks(sections, cell, width);
  }
  const total = sections.reduce((sum, s) => sum + s.rows.reduce((n, r) => n + r.count, 0), 0);
  const seats = { x: new Int32Array(total), y: new Int32Array(total), row: new Int32Array(total) };
  const rows = [];
  const index = new Map();
  let i = 0;
  sections.forEach((section, s) => {
    const block = placed.placed[s];
    section.rows.forEach((row, r) => {
      rows.push({ section: section.name, name: row.name, labels: row.labels, first: i });
      let k = 0;
      for (const [first, count] of row.ids) {
        for (let n = 0; n < count; n += 1, k += 1, i += 1) {
          index.set(first + n, i);
          seats.x[i] = block.x + k * cell;
          seats.y[i] = block.y + placed.label + r * cell;
          seats.row[i] = rows.length - 1;
        }
      }
    });
  });
  const drawn = Math.max(1, ...placed.placed.map((block) => block.x + block.w));
  const columns = Math.ceil(drawn / cell);
  const grid = new Int32Array(columns * Math.ceil(placed.height / cell + 1)).fill(-1);
  for (let n = 0; n < total; n += 1) {
    grid[Math.floor(seats.y[n] / cell) * columns + Math.floor(seats.x[n] / cell)] = n;
  }
  const labels = sections.map((section, s) => ({ name: section.name, ...placed.placed[s] }));
  return { cell, width: drawn, height: placed.height, seats, rows, index, total, grid, columns, labels };
}

/** The seat drawn at (x, y), or -1. */
export function seatAt(plan, x, y) {
  if (x < 0 || y < 0 || x >= plan.width) return -1;
  const cell = plan.grid[Math.floor(y / plan.cell) * plan.columns + Math.floor(x / plan.cell)];
  return cell ?? -1;
}

/** Section, row and seat label of the seat at place `i`. */
export function seatName(plan, i) {
  const row = plan.rows[plan.seats.row[i]];
  const k = i - row.first;
  return { section: row.section, row: row.name, seat: row.labels ? row.labels[k] : String(k + 1) };
}

/** The seat `step` rows above (negative) or below, at the same place in its row, or `i`. */
export function rowStep(plan, i, step) {
  const r = plan.seats.row[i] + step;
  if (r < 0 || r >= plan.rows.length) return i;
  const k = i - plan.rows[plan.seats.row[i]].first;
  const start = plan.rows[r].first;
  const end = r + 1 < plan.rows.length ? plan.rows[r + 1].first : plan.total;
  return Math.min(start + k, end - 1);
}
