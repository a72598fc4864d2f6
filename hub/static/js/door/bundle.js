// The offline check-in bundle and the rule of who gets in, as the door decides
// alone: docs/checkin.md §Offline bundle, the same rule as protocol/checkin.py
// `decide`, on the bundle's tickets plus what this door has seen since.

import { importPublicKey, verifyCode } from "./tickets.js";

export const BUNDLE_FORMAT = 1;

function undelta(deltas) {
  let last = 0;
  return deltas.map((delta) => (last += delta));
}

/** A bundle's tickets by id: `{type, initials, revoked, insideGate, entered, lastAt}`. */
export function ticketsOf(bundle) {
  if (bundle?.format !== BUNDLE_FORMAT) throw new Error("not a format 1 check-in bundle");
  const ids = undelta(bundle.tickets.id);
  const revoked = new Set(undelta(bundle.revoked));
  const exited = new Set(undelta(bundle.exited));
  const inside = new Map(undelta(bundle.inside.id).map((id, n) => [id, bundle.gates[bundle.inside.gate[n]]]));
  const tickets = new Map();
  ids.forEach((id, n) => {
    tickets.set(id, {
      type: bundle.types[bundle.tickets.type[n]],
      initials: bundle.tickets.initials[n],
      revoked: revoked.has(id),
      insideGate: inside.get(id) ?? null,
      entered: inside.has(id) || exited.has(id),
      lastAt: null,
    });
  });
  return { tickets, highest: ids.length ? ids[ids.length - 1] : 0 };
}

/** protocol/checkin.decide: `{status, reason, previous, next}` for a ticket of the event. */
export function decide(ticket, direction, gate, at, { allowedGates, allowReentry }) {
  if (allowedGates && !allowedGates.includes(gate)) return { status: "rejected", reason: "gate_not_allowed", next: ticket };
  if (ticket.revoked) return { status: "rejected", reason: "revoked", next: ticket };
  const previous = ticket.insideGate || ticket.lastGate ? { gate: ticket.insideGate ?? ticket.lastGate, at: ticket.lastAt } : null;
  if (direction === "in") {
    if (ticket.insideGate) return { status: "rejected", reason: "already_inside", previous, next: ticket };
    if (ticket.entered && !allowReentry) return { status: "rejected", reason: "reentry_forbidden", previous, next: ticket };
    return { status: "ok", reason: null, previous, next: { ...ticket, insideGate: gate, entered: true, lastGate: gate, lastAt: at } };
  }
  if (!ticket.insideGate) return { status: "rejected", reason: "not_inside", previous, next: ticket };
  return { status: "ok", reason: null, previous, next: { ...ticket, insideGate: null, lastGate: gate, lastAt: at } };
}

/**
 * What the door knows offline: the bundle's tickets, changed by every verdict
 * it showed since (online or its own), and the count of people inside.
 */
export class Ledger {
  static async of(bundle) {
    const { tickets, highest } = ticketsOf(bundle);
    const key = await importPublicKey(bundle.public_key);
    return new Ledger(bundle, tickets, highest, key);
  }

  constructor(bundle, tickets, highest, key) {
    this.bundle = bundle;
    this.tickets = tickets;
    this.highest = highest;
    this.key = key;
    this.inside = [...tickets.values()].filter((t) => t.insideGate).length;
  }

  ticket(id) {
    // A signed id above the bundle's highest was issued after it: a valid ticket.
    return this.tickets.get(id) ?? (id > this.highest ? { type: null, initials: null, revoked: false, insideGate: null, entered: false, lastAt: null } : null);
  }

  /** Put a ticket's new state in place, keeping the inside count. */
  move(id, next) {
    const before = this.ticket(id);
    if (before) this.inside += Number(Boolean(next.insideGate)) - Number(Boolean(before.insideGate));
    this.tickets.set(id, next);
  }

  /** Decide a scan from the bundle; the verdict has the shape of docs/checkin.md §Verdicts. */
  async decide(code, gate, direction, at) {
    const bundle = this.bundle;
    const base = { gate, direction, scanned_at: at, code, event_id: bundle.event_id, offline: true, ticket: null, previous: null };
    const ref = await verifyCode(code, this.key);
    if (ref === null) return { ...base, status: "rejected", reason: "invalid", inside: this.inside };
    if (ref.eventId !== BigInt(bundle.event_id)) return { ...base, status: "rejected", reason: "wrong_event", inside: this.inside };
    const id = Number(ref.ticketId);
    const ticket = this.ticket(id);
    if (ticket === null) return { ...base, status: "rejected", reason: "unknown", inside: this.inside };
    const decision = decide(ticket, direction, gate, at, { allowedGates: bundle.allowed_gates, allowReentry: bundle.allow_reentry });
    this.move(id, decision.next);
    return {
      ...base,
      status: decision.status,
      reason: decision.reason,
      previous: decision.previous,
      ticket: { id, holder: ticket.initials, type: ticket.type, state: ticket.revoked ? "revoked" : "valid" },
      inside: this.inside,
    };
  }

  /** Take in a verdict the hub gave, so an offline decision later knows it. */
  learn(verdict) {
    const id = verdict.ticket?.id;
    const ticket = id === undefined ? null : this.ticket(id);
    if (ticket === null || verdict.status !== "ok") return;
    const moved = verdict.direction === "in"
      ? { ...ticket, insideGate: verdict.gate, entered: true, lastGate: verdict.gate, lastAt: verdict.scanned_at }
      : { ...ticket, insideGate: null, lastGate: verdict.gate, lastAt: verdict.scanned_at };
    this.move(id, moved);
  }
}
