// The paired device: redeeming the organizer's one-time code for a device
// token (docs/accounts.md §Door devices), keeping it with the gate and
// direction chosen, and numbering scans so every nonce is new even across
// restarts (docs/checkin.md §Nonces).

import { BiltenError, ERROR_CODES } from "../bilten.js";

const DEVICE = "bilten.door.device";
const SEQUENCE = "bilten.door.sequence";

/** A code as a person typed it: dashes and spaces gone, upper case. */
export function cleanCode(typed) {
  return typed.replace(/[\s-]+/g, "").toUpperCase();
}

/** The pairing code in a URL fragment (`#code=…`, the organizer's QR), or null. */
export function codeFromHash(hash) {
  const code = new URLSearchParams(hash.replace(/^#/, "")).get("code");
  return code ? cleanCode(code) : null;
}

/** Redeem a pairing code: `{token, expires_at, device_id, org, event_id, gates}`. */
export async function redeem(code) {
  const response = await fetch("/api/v1/devices/redeem", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: cleanCode(code) }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error ?? {};
    const known = ERROR_CODES.has(error.code) ? error.code : "internal";
    throw new BiltenError(known, error.message ?? response.statusText, error.details ?? null);
  }
  return body;
}

/** The device kept from an earlier pairing, or null. */
export function loadDevice() {
  const kept = localStorage.getItem(DEVICE);
  return kept ? JSON.parse(kept) : null;
}

/** Keep the device (and its chosen `gate` and `direction`) for the next visit. */
export function saveDevice(device) {
  localStorage.setItem(DEVICE, JSON.stringify(device));
}

export function forgetDevice() {
  localStorage.removeItem(DEVICE);
  localStorage.removeItem(SEQUENCE);
}

/** The device's name in `checkin.sync`, and the prefix of its nonces. */
export function deviceName(device) {
  return `door-${device.device_id}`;
}

/** A nonce never used before by this device: its name and a persisted sequence number. */
export function nextNonce(device) {
  const next = Number(localStorage.getItem(SEQUENCE) ?? "0") + 1;
  localStorage.setItem(SEQUENCE, String(next));
  return `${deviceName(device)}:${String(next).padStart(6, "0")}`;
}
