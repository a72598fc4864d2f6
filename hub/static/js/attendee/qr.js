// A ticket's code as a QR code, drawn in the browser with the vendored
// qrcode-generator (docs/web.md §Vendored libraries): one SVG path of dark
// modules inside a four-module quiet zone, so it scans from a phone's screen.

import htm from "../../vendor/htm.module.js";
import qrcode from "../../vendor/qrcode.mjs";

const { createElement, useMemo } = window.React;
const html = htm.bind(createElement);
const QUIET = 4; // modules of margin the QR standard asks for

/** The SVG path of the dark modules of `text` (byte mode, error correction M). */
export function qrPath(text) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Byte");
  qr.make();
  const size = qr.getModuleCount();
  const parts = [];
  for (let row = 0; row < size; row += 1) {
    for (let col = 0; col < size; col += 1) {
      if (qr.isDark(row, col)) parts.push(`M${col + QUIET},${row + QUIET}h1v1h-1z`);
    }
  }
  return { size: size + 2 * QUIET, path: parts.join("") };
}

/** The QR code of `text`, an image named by `label`. */
export function QrCode({ text, label }) {
  const { size, path } = useMemo(() => qrPath(text), [text]);
  return html`<svg class="qr" width="200" height="200" viewBox=${`0 0 ${size} ${size}`} role="img" aria-label=${label}
    shape-rendering="crispEdges" data-testid="qr">
    <rect width=${size} height=${size} fill="#fff" />
    <path d=${path} fill="#000" />
  </svg>`;
}
