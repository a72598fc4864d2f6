// Live availability from event.{id}.seats (docs/allocation.md §Live
// availability): the snapshot decoded into one state per seat, each delta
// applied by version, as protocol/seats.py `from_snapshot` and `apply` do.

const { useEffect, useRef, useState } = window.React;
const STATES = { a: "available", h: "held", s: "sold" };

/** The ascending ids of `[[first, count], …]` ranges. */
export function decodeIdRuns(runs) {
  const ids = [];
  for (const [first, count] of runs) for (let k = 0; k < count; k += 1) ids.push(first + k);
  return ids;
}

/** The values of `[[value, count], …]` runs. */
export function decodeRuns(runs) {
  const values = [];
  for (const [value, count] of runs) for (let k = 0; k < count; k += 1) values.push(value);
  return values;
}

/** The states of run-length text (`"28a2h"`; a count of 1 left out). */
export function decodeStates(text) {
  const states = [];
  for (const [, count, code] of text.matchAll(/(\d*)([ahs])/g)) {
    for (let k = 0; k < Number(count || 1); k += 1) states.push(STATES[code]);
  }
  return states;
}

/** A view from the `subscribed` snapshot. */
export function fromSnapshot(snapshot) {
  const ids = decodeIdRuns(snapshot.ids);
  const states = decodeStates(snapshot.states);
  const sections = decodeRuns(snapshot.sections);
  const types = decodeRuns(snapshot.types);
  const seats = new Map(ids.map((id, i) => [id, { state: states[i], section: sections[i], type: types[i] }]));
  return {
    map: snapshot.map,
    seats,
    versions: new Map(snapshot.versions),
    ga: new Map(snapshot.ga.map(([type, quota, held, sold, version]) => [type, { quota, held, sold, version }])),
  };
}

/** The view after a delta, or null when the map changed (subscribe again). */
export function apply(view, delta) {
  if ((delta.map ?? view.map) > view.map) return null;
  const seats = new Map(view.seats);
  const versions = new Map(view.versions);
  for (const [id, code, version] of delta.seats ?? []) {
    const seat = seats.get(id);
    if (seat === undefined) return null;
    if (version > (versions.get(id) ?? 0)) {
      seats.set(id, { ...seat, state: STATES[code] });
      versions.set(id, version);
    }
  }
  const ga = new Map(view.ga);
  for (const [type, quota, held, sold, version] of delta.ga ?? []) {
    if (!ga.has(type) || version > ga.get(type).version) ga.set(type, { quota, held, sold, version });
  }
  return { ...view, seats, versions, ga };
}

/** Places of `type` left to hold: null for a GA type without a quota. */
export function available(view, type) {
  const ga = view.ga.get(type);
  if (ga !== undefined) return ga.quota === null ? null : Math.max(0, ga.quota - ga.held - ga.sold);
  let count = 0;
  for (const seat of view.seats.values()) if (seat.type === type && seat.state === "available") count += 1;
  return count;
}

/** `{view, error}`: the live view of the event's seats (null until subscribed); a grown map
 * (or an unknown seat) subscribes again for a fresh snapshot. */
export function useSeats(client, eventId) {
  const [view, setView] = useState(null);
  const [error, setError] = useState(null);
  const [round, setRound] = useState(0);
  const current = useRef(null);
  useEffect(() => {
    let sub = null;
    let gone = false;
    const show = (next) => {
      current.current = next;
      setView(next);
    };
    client
      .subscribe(`event.${eventId}.seats`, {
        onSubscribed: ({ recovered, snapshot }) => {
          if (!recovered && snapshot) show(fromSnapshot(snapshot));
        },
        onPublication: ({ data }) => {
          if (current.current === null) return;
          const next = apply(current.current, data);
          if (next !== null) show(next);
          else if (!gone) setRound((n) => n + 1);
        },
        onError: setError,
      })
      .then((made) => {
        if (gone) made.unsubscribe().catch(() => {});
        else sub = made;
      })
      .catch(setError);
    return () => {
      gone = true;
      sub?.unsubscribe().catch(() => {});
    };
  }, [client, eventId, round]);
  return { view, error };
}
