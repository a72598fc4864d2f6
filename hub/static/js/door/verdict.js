// The verdict, full screen and readable at arm's length: green with a tick to
// let through, red with a cross to turn away, the reason and the holder in
// words, announced by a live region (colour is never the only signal).

import htm from "../../vendor/htm.module.js";

const { createElement } = window.React;
const html = htm.bind(createElement);

/** The catalogue's words for a reason (docs/checkin.md §Verdicts) or a door error. */
export function reasonText(t, reason) {
  switch (reason) {
    case "invalid": return t("door.reason.invalid");
    case "wrong_event": return t("door.reason.wrong_event");
    case "unknown": return t("door.reason.unknown");
    case "revoked": return t("door.reason.revoked");
    case "already_inside": return t("door.reason.already_inside");
    case "not_inside": return t("door.reason.not_inside");
    case "reentry_forbidden": return t("door.reason.reentry_forbidden");
    case "gate_not_allowed": return t("door.reason.gate_not_allowed");
    case "device_rejected": return t("door.reason.device_rejected");
    case "no_bundle": return t("door.reason.no_bundle");
    case "unauthorized": return t("door.reason.unauthorized");
    default: return t("door.reason.error", { code: reason });
  }
}

function title(t, verdict) {
  if (verdict.status === "ok") return verdict.direction === "out" ? t("door.verdict.exit") : t("door.verdict.ok");
  if (verdict.status === "error") return t("door.verdict.error");
  return t("door.verdict.rejected");
}

function kindOf(verdict) {
  if (verdict === null) return "none";
  return verdict.status === "ok" ? "ok" : verdict.status === "error" ? "error" : "refused";
}

/** The live region, always in the page: the last verdict, full screen while `full`. */
export function Verdict({ t, format, verdict, full, onDismiss }) {
  const kind = kindOf(verdict);
  const ticket = verdict?.ticket;
  const previous = verdict?.previous;
  return html`<section class=${`verdict verdict-${kind}${full ? " verdict-full" : ""}`} data-testid="verdict"
    data-status=${verdict?.status ?? ""} data-count=${verdict?.count ?? 0} role="status" aria-live="assertive" aria-atomic="true">
    ${verdict && html`
      <p class="verdict-icon" aria-hidden="true">${kind === "ok" ? "✓" : kind === "error" ? "!" : "✕"}</p>
      <p class="verdict-title" data-testid="verdict-title">${title(t, verdict)}</p>
      ${verdict.reason && html`<p class="verdict-reason" data-testid="verdict-reason">${reasonText(t, verdict.reason)}</p>`}
      ${ticket?.holder && html`<p class="verdict-holder" data-testid="verdict-holder">${ticket.holder}</p>`}
      ${ticket?.type && html`<p>${ticket.type}</p>`}
      ${previous && html`<p data-testid="verdict-previous">${previous.at
        ? t("door.verdict.previous_at", { gate: previous.gate, at: format.date(previous.at) })
        : t("door.verdict.previous", { gate: previous.gate })}</p>`}
      ${verdict.offline && html`<p class="verdict-offline" data-testid="verdict-offline">${t("door.verdict.offline")}</p>`}
      ${full && html`<button type="button" onClick=${onDismiss}>${t("door.verdict.next")}</button>`}
    `}
  </section>`;
}
