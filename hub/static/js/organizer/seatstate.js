// The live states of an event's seats, as `event.{id}.seats` carries them
// (docs/allocation.md §Live availability), kept in typed arrays indexed in
// map order so 50,000 seats cost a few hundred kilobytes. The rules are those
// of protocol/seats.py `from_snapshot` and `apply`.

const AVAILABLE = 0;
const HELD = 1;
const SOLD = 2;
const CODES = { a: AVAILABLE, h: HELD, s: SOLD };
const RUN = /(\d*)([ahs])/g;

/** Thrown when the channel no longer matches the map: load the map and subscribe again. */
export class Resync extends Error {}

/** Each seat id of `[first, count]` ranges, in order. */
function* idsOf(ranges) {
  for (const [first, count] of ranges) for (let k = 0; k < count; k += 1) yield first + k;
}

/** `"3a2h"` → [0, 0, 0, 1, 1]. */
function decodeStates(text) {
  const states = [];
  for (const [, count, code] of text.matchAll(RUN)) {
    for (let k = 0; k < Number(count || 1); k += 1) states.push(CODES[code]);
  }
  return states;
}

export class SeatStates {
  /** `index` maps each seat id of the map to its place in map order. */
  constructor(index) {
    this.index = index;
    this.states = new Uint8Array(index.size);
    this.versions = new Map();
    this.counts = [index.size, 0, 0];
    this.map = 0;
    this.offset = 0;
    this.epoch = "";
  }

  _set(i, state) {
    this.counts[this.states[i]] -= 1;
    this.counts[state] += 1;
    this.states[i] = state;
  }

  /** Start over from a snapshot; returns the places whose state it set. */
  fromSnapshot(snapshot) {
    const states = decodeStates(snapshot.states);
    let n = 0;
    for (const id of idsOf(snapshot.ids)) {
      const i = this.index.get(id);
      if (i === undefined) throw new Resync(`seat ${id} is not on the map`);
      this._set(i, states[n]);
      n += 1;
    }
    if (n !== this.index.size) throw new Resync("the snapshot does not cover the map");
    this.versions = new Map(snapshot.versions);
    this.map = snapshot.map;
    this.offset = snapshot.offset;
    this.epoch = snapshot.epoch;
  }

  /** Apply one publication; returns the places that changed. */
  apply(delta, offset, epoch) {
    if (epoch === this.epoch && offset <= this.offset) return [];
    if ((delta.map ?? this.map) > this.map) throw new Resync("the seat map changed");
    const changed = [];
    for (const [id, code, version] of delta.seats ?? []) {
      const i = this.index.get(id);
      if (i === undefined) throw new Resync(`seat ${id} is not on the map`);
      if (version > (this.versions.get(id) ?? 0)) {
        this.versions.set(id, version);
        this._set(i, CODES[code]);
        changed.push(i);
      }
    }
    this.offset = offset;
    this.epoch = epoch;
    return changed;
  }
}
