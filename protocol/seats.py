"""The `event.{id}.seats` channel: snapshot, deltas, and how a client applies them.

docs/allocation.md §Live availability. Pure: the allocation worker encodes
the snapshot and deltas here, and clients (and tests) rebuild the live seat
states with `from_snapshot` and `apply`, so everyone reads the channel the
same way.

Seat states travel run-length encoded over the event's seat ids in id order
(map order): a fresh 50,000-seat stadium is about 2 kB. Deltas carry
absolute states with per-seat versions, so a delta that overlaps the snapshot
is harmless: an entry is applied only if it is newer than what the client has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from bilten.protocol.errors import BiltenError

State = Literal["available", "held", "sold"]
CODES: Mapping[State, str] = {"available": "a", "held": "h", "sold": "s"}
STATES: Mapping[str, State] = {code: state for state, code in CODES.items()}
_RUN = re.compile(r"(\d*)([ahs])")
T = TypeVar("T")


class Resync(BiltenError):
    """A delta the client's state cannot take (the map changed): subscribe afresh."""

    code = "conflict"


def encode_states(states: Iterable[State]) -> str:
    """Run-length text of seat states: `"49990a8h2s"` (a count of 1 is left out)."""
    out: list[str] = []
    current, count = "", 0
    for state in states:
        code = CODES[state]
        if code == current:
            count += 1
            continue
        if count:
            out.append(f"{count if count > 1 else ''}{current}")
        current, count = code, 1
    if count:
        out.append(f"{count if count > 1 else ''}{current}")
    return "".join(out)


def decode_states(text: str) -> list[State]:
    """Inverse of `encode_states`."""
    states: list[State] = []
    pos = 0
    for match in _RUN.finditer(text):
        if match.start() != pos:
            raise ValueError(f"malformed seat states at {pos}")
        states.extend([STATES[match.group(2)]] * int(match.group(1) or 1))
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"malformed seat states at {pos}")
    return states


def encode_runs(values: Iterable[T]) -> list[list[Any]]:
    """`[[value, count], …]` for a sequence with long runs of equal values."""
    runs: list[list[Any]] = []
    for value in values:
        if runs and runs[-1][0] == value:
            runs[-1][1] += 1
        else:
            runs.append([value, 1])
    return runs


def decode_runs(runs: Iterable[Sequence[Any]]) -> list[Any]:
    """Inverse of `encode_runs`."""
    return [value for value, count in runs for _ in range(int(count))]


def id_runs(ids: Iterable[int]) -> list[list[int]]:
    """Ascending ids as `[[first, count], …]` ranges of consecutive ids."""
    runs: list[list[int]] = []
    for seat_id in ids:
        if runs and runs[-1][0] + runs[-1][1] == seat_id:
            runs[-1][1] += 1
        else:
            runs.append([seat_id, 1])
    return runs


def decode_id_runs(runs: Iterable[Sequence[int]]) -> list[int]:
    """Inverse of `id_runs`."""
    return [first + k for first, count in runs for k in range(count)]


@dataclass(frozen=True, slots=True)
class GaCount:
    """A general-admission type: quota (None: unlimited), places held and sold."""

    quota: int | None
    held: int
    sold: int
    version: int

    @property
    def available(self) -> int | None:
        """Places left to hold, or None without a quota."""
        return None if self.quota is None else max(0, self.quota - self.held - self.sold)


@dataclass(frozen=True, slots=True)
class SeatRow:
    """One seat as the snapshot encoder reads it, in id order."""

    id: int
    section_id: int
    ticket_type_id: int | None
    state: State
    version: int
    recent: bool  # changed after the feed cursor: its version goes in the snapshot


@dataclass(frozen=True, slots=True)
class SeatView:
    """The live state of an event's seats, as a client holds it."""

    map_version: int
    offset: int
    epoch: str
    states: Mapping[int, State]
    versions: Mapping[int, int]  # seats whose last known change has a version
    sections: Mapping[int, int]  # seat id → section id
    types: Mapping[int, int | None]  # seat id → ticket type id
    ga: Mapping[int, GaCount]


def _ga_wire(ga: Mapping[int, GaCount]) -> list[list[Any]]:
    return [[t, c.quota, c.held, c.sold, c.version] for t, c in sorted(ga.items())]


def encode_snapshot(
    seats: Sequence[SeatRow],
    ga: Mapping[int, GaCount],
    *,
    map_version: int,
    offset: int,
    epoch: str,
) -> dict[str, Any]:
    """The `event.{id}.seats` snapshot: seats in id order, run-length encoded."""
    snapshot = {
        "map": map_version,
        "offset": offset,
        "epoch": epoch,
        "version": max((s.version for s in seats), default=0),
        "ids": id_runs(s.id for s in seats),
        "states": encode_states(s.state for s in seats),
        "sections": encode_runs(s.section_id for s in seats),
        "types": encode_runs(s.ticket_type_id for s in seats),
        "versions": [[s.id, s.version] for s in seats if s.recent],
        "ga": _ga_wire(ga),
    }
    snapshot["counts"] = counts(from_snapshot(snapshot))
    return snapshot


def from_snapshot(snapshot: Mapping[str, Any]) -> SeatView:
    """A client's starting state from the `subscribed` snapshot."""
    ids = decode_id_runs(snapshot["ids"])
    states, sections = decode_states(snapshot["states"]), decode_runs(snapshot["sections"])
    types = decode_runs(snapshot["types"])
    if not len(ids) == len(states) == len(sections) == len(types):
        raise ValueError("snapshot columns differ in length")
    return SeatView(
        int(snapshot["map"]),
        int(snapshot["offset"]),
        str(snapshot["epoch"]),
        dict(zip(ids, states, strict=True)),
        {int(s): int(v) for s, v in snapshot["versions"]},
        dict(zip(ids, sections, strict=True)),
        dict(zip(ids, types, strict=True)),
        {int(t): GaCount(q, h, s, v) for t, q, h, s, v in snapshot["ga"]},
    )


def encode_delta(
    seats: Iterable[tuple[int, State, int]],
    ga: Mapping[int, GaCount],
    map_version: int | None = None,
) -> dict[str, Any]:
    """One publication: changed seats as `[id, code, version]`, GA types, a new map."""
    delta: dict[str, Any] = {"seats": [[i, CODES[s], v] for i, s, v in seats], "ga": _ga_wire(ga)}
    if map_version is not None:
        delta["map"] = map_version
    return delta


def apply(
    view: SeatView, delta: Mapping[str, Any], *, offset: int | None = None, epoch: str | None = None
) -> SeatView:
    """The state after one publication (`offset`/`epoch` from its `pub` frame).

    A publication the snapshot already reflects is skipped; each entry is
    taken only if its version is newer than the seat's known one (seats not
    in the snapshot's `versions` take any). Raises Resync when the map changed.
    """
    if offset is not None and epoch == view.epoch and offset <= view.offset:
        return view
    if int(delta.get("map", view.map_version)) > view.map_version:
        raise Resync("the seat map changed: subscribe again for a new snapshot")
    states, versions = dict(view.states), dict(view.versions)
    for seat_id, code, version in delta.get("seats", ()):
        if seat_id not in states:
            raise Resync(f"unknown seat {seat_id}: subscribe again for a new snapshot")
        if version > versions.get(seat_id, 0):
            states[seat_id], versions[seat_id] = STATES[code], version
    ga = dict(view.ga)
    for type_id, quota, held, sold, version in delta.get("ga", ()):
        known = ga.get(type_id)
        if known is None or version > known.version:
            ga[type_id] = GaCount(quota, held, sold, version)
    return replace(
        view,
        states=states,
        versions=versions,
        ga=ga,
        offset=view.offset if offset is None else offset,
        epoch=view.epoch if epoch is None else epoch,
    )


def counts(view: SeatView) -> dict[str, list[dict[str, Any]]]:
    """Available/held/sold per section and per ticket type (GA types included)."""
    by_section: dict[int, dict[str, int]] = {}
    by_type: dict[int, dict[str, Any]] = {}
    for seat_id, state in view.states.items():
        section = by_section.setdefault(
            view.sections[seat_id], {"available": 0, "held": 0, "sold": 0}
        )
        section[state] += 1
        type_id = view.types[seat_id]
        if type_id is not None:
            by_type.setdefault(type_id, {"available": 0, "held": 0, "sold": 0})[state] += 1
    for type_id, c in view.ga.items():
        by_type[type_id] = {
            "available": c.available,
            "held": c.held,
            "sold": c.sold,
            "quota": c.quota,
        }
    return {
        "sections": [{"section_id": k, **v} for k, v in sorted(by_section.items())],
        "types": [{"ticket_type_id": k, **v} for k, v in sorted(by_type.items())],
    }
