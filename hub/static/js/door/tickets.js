// Ticket codes, read and verified in the browser as protocol/tickets.py does:
// canonical unpadded base64url of version | event id | ticket id | Ed25519
// signature over "bilten-ticket-v1:" + the bytes before it. The door decides
// offline with nothing but the event's public key (docs/checkin.md §Offline bundle).

const VERSION = 1;
const SIGNATURE_BYTES = 64;
const MAX_CODE_LENGTH = 120;
const TAG = new TextEncoder().encode("bilten-ticket-v1:");
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Bytes of canonical unpadded base64url (RFC 4648 §5, unused trailing bits zero), else null. */
export function decodeBase64url(text) {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return null;
  const bytes = [];
  let buffer = 0;
  let bits = 0;
  for (const char of text) {
    buffer = (buffer << 6) | ALPHABET.indexOf(char);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((buffer >> bits) & 0xff);
    }
  }
  if (buffer & ((1 << bits) - 1)) return null; // a second spelling of the same bytes
  return new Uint8Array(bytes);
}

function readVarint(raw, start) {
  let value = 0n;
  let shift = 0n;
  for (let pos = start; pos < raw.length && shift <= 63n; pos += 1) {
    const byte = raw[pos];
    value |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      if (byte === 0 && shift) return null; // not minimal: one ticket, one code
      return { value, next: pos + 1 };
    }
    shift += 7n;
  }
  return null;
}

/** `{eventId, ticketId, body, signature}` of a well-formed code (signature unchecked), else null. */
export function parseCode(code) {
  if (typeof code !== "string" || code.length === 0 || code.length > MAX_CODE_LENGTH) return null;
  const raw = decodeBase64url(code);
  if (raw === null || raw.length < 3 + SIGNATURE_BYTES || raw[0] !== VERSION) return null;
  const event = readVarint(raw, 1);
  const ticket = event && readVarint(raw, event.next);
  if (!ticket || raw.length - ticket.next !== SIGNATURE_BYTES || !event.value || !ticket.value) {
    return null;
  }
  return {
    eventId: event.value,
    ticketId: ticket.value,
    body: raw.slice(0, ticket.next),
    signature: raw.slice(ticket.next),
  };
}

/** The event's public key (base64url of 32 raw bytes) as a WebCrypto key. */
export async function importPublicKey(text) {
  const raw = decodeBase64url(text);
  if (raw === null || raw.length !== 32) throw new Error("not an Ed25519 public key");
  return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
}

/** What a code names if `key` signed it: `{eventId, ticketId}` (BigInt), else null. */
export async function verifyCode(code, key) {
  const parsed = parseCode(code);
  if (parsed === null) return null;
  const signed = new Uint8Array(TAG.length + parsed.body.length);
  signed.set(TAG);
  signed.set(parsed.body, TAG.length);
  const good = await crypto.subtle.verify({ name: "Ed25519" }, key, parsed.signature, signed);
  return good ? { eventId: parsed.eventId, ticketId: parsed.ticketId } : null;
}
