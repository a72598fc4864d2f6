// Scans per minute over the last hour, drawn by uPlot (vendored) on a canvas;
// the figures are also said in words for screen readers.

import uPlot from "../../vendor/uPlot.esm.js";
import { React, html } from "./ui.js";

const WIDTH = 640;
const HEIGHT = 200;

/** The chart's x (minute starts, seconds) and y from the dashboard's 60 counts. */
function series(minute, counts) {
  const last = Date.parse(minute) / 1000;
  return [counts.map((_, i) => last - (counts.length - 1 - i) * 60), counts.slice()];
}

export function ScansChart({ t, format, timeZone, minute, counts }) {
  const box = React.useRef(null);
  const plot = React.useRef(null);
  const label = t("organizer.dashboard.scans_chart");

  React.useEffect(() => {
    const chart = new uPlot(
      {
        width: WIDTH,
        tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), timeZone),
        height: HEIGHT,
        legend: { show: false },
        cursor: { show: false },
        series: [{}, { label, stroke: "#1565c0", fill: "rgba(21, 101, 192, 0.2)", width: 2 }],
        axes: [{}, { size: 48 }],
        scales: { y: { range: (_, min, max) => [0, Math.max(5, max)] } },
      },
      series(minute, counts),
      box.current,
    );
    plot.current = chart;
    return () => chart.destroy();
  }, []);

  React.useEffect(() => {
    plot.current?.setData(series(minute, counts));
  }, [minute, counts]);

  const total = counts.reduce((sum, n) => sum + n, 0);
  const summary = t("organizer.dashboard.scans_summary", {
    total: format.number(total),
    last: format.number(counts[counts.length - 1] ?? 0),
  });
  return html`<figure class="chart">
    <div ref=${box} role="img" aria-label=${`${label}: ${summary}`} data-testid="scans-chart"></div>
    <figcaption data-testid="scans-summary">${summary}</figcaption>
  </figure>`;
}
