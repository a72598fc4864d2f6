"""Allocation requests: seat maps and holds, validated; best-available runs.

docs/allocation.md. Pure: the allocation worker parses `seats.create`,
`seats.hold` and `seats.waitlist.join` parameters here (each refusal names
its field) and picks best-available runs of adjacent seats with
`adjacent_windows`. The live state of the seats channel is protocol/seats.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bilten.protocol.checkin import NONCE
from bilten.protocol.errors import BadRequest
from bilten.protocol.params import MAX_ID, parse_int

REASONS = ("unavailable", "quota_exhausted", "limit_exceeded", "expired", "released")
MAX_SECTIONS = 500
MAX_ROWS = 2000  # per section
MAX_ROW_SEATS = 1000
MAX_MAP_SEATS = 100_000  # per seats.create call
MAX_HOLD_SEATS = 100  # seat_ids or quantity of one hold
MAX_TTL_S = 3600
DEFAULT_TTL_S, DEFAULT_LIMIT, DEFAULT_WARN_S = 600, 10, 60


@dataclass(frozen=True, slots=True)
class RowSpec:
    """One row of a new map: its name, seat labels in order, and ticket type."""

    name: str
    labels: tuple[str, ...]
    ticket_type_id: int | None


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """One section of a new map."""

    name: str
    rows: tuple[RowSpec, ...]


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """`seats.hold`: chosen `seat_ids`, or `quantity` places by type and/or section."""

    seat_ids: tuple[int, ...] = ()
    ticket_type_id: int | None = None
    section: str | None = None
    section_id: int | None = None
    quantity: int = 1
    together: bool = True
    ttl_s: int | None = None
    nonce: str | None = None


def parse_id(params: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    """A positive 63-bit id parameter (REST path parameters arrive as strings)."""
    if params.get(name) is None and not required:
        return None
    return parse_int(params, name, 1, MAX_ID)


def _count(params: Mapping[str, Any], name: str, high: int, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise BadRequest(f"{name} must be an integer from 1 to {high}", field=name)
    return value


def _name(value: Any, field: str, limit: int = 64) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > limit
        or any(ord(c) < 32 for c in value)
    ):
        raise BadRequest(f"{field} must be text of 1-{limit} characters", field=field)
    return value.strip()


def _list(value: Any, field: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise BadRequest(f"{field} must be a non-empty list", field=field)
    if len(value) > limit:
        raise BadRequest(
            f"{field} has {len(value)} entries; the limit is {limit}",
            field=field,
            size=len(value),
            limit=limit,
        )
    return value


def parse_map(params: Mapping[str, Any]) -> tuple[SectionSpec, ...]:
    """Validate `seats.create`: sections → rows → seats (a count or a list of labels)."""
    sections: list[SectionSpec] = []
    total = 0
    for i, raw in enumerate(_list(params.get("sections"), "sections", MAX_SECTIONS)):
        where = f"sections[{i}]"
        if not isinstance(raw, dict):
            raise BadRequest(f"{where} must be an object", field=where)
        default_type = parse_id(raw, "ticket_type_id", required=False)
        rows: list[RowSpec] = []
        for j, row in enumerate(_list(raw.get("rows"), f"{where}.rows", MAX_ROWS)):
            at = f"{where}.rows[{j}]"
            if not isinstance(row, dict):
                raise BadRequest(f"{at} must be an object", field=at)
            seats = row.get("seats")
            if (
                isinstance(seats, int)
                and not isinstance(seats, bool)
                and 1 <= seats <= MAX_ROW_SEATS
            ):
                labels = tuple(str(n) for n in range(1, seats + 1))
            elif isinstance(seats, list):
                labels = tuple(
                    _name(label, f"{at}.seats", 16)
                    for label in _list(seats, f"{at}.seats", MAX_ROW_SEATS)
                )
            else:
                raise BadRequest(
                    f"{at}.seats must be a count from 1 to {MAX_ROW_SEATS} or a list of labels",
                    field=f"{at}.seats",
                )
            if len(set(labels)) != len(labels):
                raise BadRequest(f"{at}.seats has duplicate labels", field=f"{at}.seats")
            type_id = parse_id(row, "ticket_type_id", required=False)
            rows.append(
                RowSpec(
                    _name(row.get("name"), f"{at}.name"),
                    labels,
                    default_type if type_id is None else type_id,
                )
            )
            total += len(labels)
        if total > MAX_MAP_SEATS:
            raise BadRequest(
                f"more than {MAX_MAP_SEATS} seats in one call",
                field="sections",
                size=total,
                limit=MAX_MAP_SEATS,
            )
        if len({r.name for r in rows}) != len(rows):
            raise BadRequest(f"{where} has duplicate row names", field=f"{where}.rows")
        sections.append(SectionSpec(_name(raw.get("name"), f"{where}.name"), tuple(rows)))
    if len({s.name for s in sections}) != len(sections):
        raise BadRequest("duplicate section names", field="sections")
    return tuple(sections)


def parse_hold(params: Mapping[str, Any]) -> HoldRequest:
    """Validate `seats.hold` (and the target of `seats.waitlist.join`)."""
    together = params.get("together", True)
    if not isinstance(together, bool):
        raise BadRequest("together must be true or false", field="together")
    ttl = params.get("ttl_s")
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL_S
    ):
        raise BadRequest(f"ttl_s must be an integer from 1 to {MAX_TTL_S}", field="ttl_s")
    nonce = params.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not NONCE.match(nonce)):
        raise BadRequest("nonce must be 8-80 characters of [A-Za-z0-9_.:-]", field="nonce")
    raw_ids = params.get("seat_ids")
    if raw_ids is not None:
        ids = _list(raw_ids, "seat_ids", MAX_HOLD_SEATS)
        if any(
            isinstance(s, bool) or not isinstance(s, int) or not 0 < s <= MAX_ID for s in ids
        ) or len(set(ids)) != len(ids):
            raise BadRequest("seat_ids must be distinct seat ids", field="seat_ids")
        if any(
            params.get(k) is not None
            for k in ("ticket_type_id", "section", "section_id", "quantity")
        ):
            raise BadRequest(
                "give seat_ids, or ticket_type_id/section with quantity, not both", field="seat_ids"
            )
        return HoldRequest(
            seat_ids=tuple(ids), quantity=len(ids), together=together, ttl_s=ttl, nonce=nonce
        )
    type_id = parse_id(params, "ticket_type_id", required=False)
    section_id = parse_id(params, "section_id", required=False)
    section = None if params.get("section") is None else _name(params["section"], "section")
    if type_id is None and section is None and section_id is None:
        raise BadRequest(
            "give seat_ids, or ticket_type_id and/or section with quantity", field="seat_ids"
        )
    return HoldRequest(
        (),
        type_id,
        section,
        section_id,
        _count(params, "quantity", MAX_HOLD_SEATS, 1),
        together,
        ttl,
        nonce,
    )


def adjacent_windows(
    seats: Iterable[tuple[int, int, int]], n: int, limit: int = 32
) -> list[tuple[int, ...]]:
    """Up to `limit` runs of `n` seats side by side in one row, best (map order) first.

    `seats` are (id, row_id, position) of available seats in id order; within
    an island of consecutive positions the windows do not overlap, so two
    buyers trying the list in order never both lock part of one window.
    """
    windows: list[tuple[int, ...]] = []
    run: list[int] = []
    last: tuple[int, int] | None = None
    for seat_id, row_id, position in [*seats, (0, 0, -1)]:
        if last is not None and (row_id, position) == (last[0], last[1] + 1):
            run.append(seat_id)
        else:
            for k in range(0, len(run) - n + 1, n):
                windows.append(tuple(run[k : k + n]))
                if len(windows) == limit:
                    return windows
            run = [seat_id]
        last = (row_id, position)
    return windows
