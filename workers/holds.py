"""Holds: seats or general-admission places taken for a while, all or nothing.

docs/allocation.md §Holds. Correctness comes from PostgreSQL alone, so it
holds with any number of workers:

- chosen seats are locked with `FOR UPDATE SKIP LOCKED` and only if still
  available; unless every asked seat was got, the hold is refused
  (`unavailable`). Nobody waits on a seat, so there are no deadlocks, and a
  seat another transaction is grabbing counts as unavailable;
- best available tries runs of adjacent seats in map order, each under a
  savepoint so a run that is partly taken releases what it got;
- general admission adds to a per-type counter whose CHECK keeps
  `held + sold <= quota`, updated last so its row lock is held briefly;
- the per-attendee cap is counted under an advisory lock per (namespace,
  event, buyer), which also makes a retried hold with the same `nonce` return
  the first one.

Every change takes a version from `seat_version` while holding the row lock,
and records its transaction id for the seats feed (workers/seatfeed.py).
This module has the pieces; workers/hold_batch.py places holds with them,
many in one transaction.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from bilten.protocol.allocation import HoldRequest, adjacent_windows
from bilten.protocol.errors import BadRequest, Forbidden, NotFound
from bilten.protocol.sales import Hold
from bilten.protocol.tokens import Claims
from bilten.workers.context import Conn

CHANGE = "version = nextval('seat_version'), changed_xid = pg_current_xact_id()"
_PAGE = 256
_MAX_SCAN = 20_000
_WINDOWS = 32
_SPREAD = 31
_FIRST_TRIES = 4
# Its own generator for the order near runs are tried in: the `random` module's shared
# one is the application's (and a test framework's), not ours to move.
_SPREAD_ORDER = random.Random()


class Rejected(Exception):
    """A hold that cannot be given now; the transaction rolls back and says why."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def reply(self) -> dict[str, Any]:
        """The answer: `{"status": "rejected", "reason": …, …details}`."""
        return {"status": "rejected", "reason": self.reason, **self.details}


@dataclass(frozen=True, slots=True)
class Buyer:
    """Who a hold is for; attendees are held to the event's per-attendee cap."""

    sub: str
    capped: bool


def hold_of(row: asyncpg.Record) -> Hold:
    """A hold row as a value (the stored state `active` is shown as `held`)."""
    return Hold(
        "held" if row["state"] == "active" else row["state"],
        row["id"],
        row["event_id"],
        tuple(row["seat_ids"]),
        row["ticket_type_id"],
        row["quantity"],
        row["amount_minor"],
        row["currency"].strip(),
        row["expires_at"],
    )


def authorize(claims: Claims, row: asyncpg.Record, what: str = "hold") -> None:
    """The hold's (order's) owner, an organizer of its event, or a service; else
    NotFound (another event's) or Forbidden (another buyer's)."""
    if claims.role == "service":
        return
    if not claims.covers_event(row["event_id"], row["org_id"]):
        raise NotFound(f"no {what} {row['id']}")
    if claims.role != "organizer" and row["owner_sub"] != claims.sub:
        raise Forbidden(f"only the {what}'s owner or an organizer may do this")


def general(event_id: int, wanted: HoldRequest, kind: asyncpg.Record | None) -> bool:
    """Whether the hold is for general-admission places (a type without seats, no section)."""
    return (
        not wanted.seat_ids
        and wanted.section is None
        and wanted.section_id is None
        and kind is not None
        and kind["event_id"] == event_id
        and not kind["seated"]
    )


async def ticket_kinds(conn: Conn, type_ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    """The asked ticket types by id (price, currency, event, seated), one query for a batch."""
    rows = await conn.fetch(
        """SELECT t.id, t.event_id, t.price_minor, t.currency,
                  EXISTS (SELECT 1 FROM seated_types s WHERE s.ticket_type_id = t.id) AS seated
           FROM ticket_types t WHERE t.id = ANY($1::bigint[])""",
        sorted(set(type_ids)),
    )
    return {r["id"]: r for r in rows}


async def pick(
    conn: Conn, event_id: int, wanted: HoldRequest, kind: asyncpg.Record | None
) -> tuple[list[asyncpg.Record], asyncpg.Record | None]:
    """Lock the seats to hold, or return the general-admission type (`kind`, the asked
    ticket type from `ticket_kinds`) to count places of."""
    if wanted.seat_ids:
        return await _chosen(conn, event_id, wanted.seat_ids), None
    section_id = None
    if wanted.section is not None or wanted.section_id is not None:
        section_id = await conn.fetchval(
            "SELECT id FROM seat_sections WHERE event_id = $1 AND (name = $2 OR id = $3)",
            event_id,
            wanted.section,
            wanted.section_id,
        )
        if section_id is None:
            field = "section" if wanted.section is not None else "section_id"
            raise BadRequest(f"no such section in event {event_id}", field=field)
    if wanted.ticket_type_id is not None:
        if kind is None or kind["event_id"] != event_id:
            raise BadRequest(
                f"no ticket type {wanted.ticket_type_id} in event {event_id}",
                field="ticket_type_id",
            )
        if general(event_id, wanted, kind):
            return [], kind
    return await _best(
        conn, event_id, wanted.ticket_type_id, section_id, wanted.quantity, wanted.together
    ), None


_LOCK_SEATS = """
    SELECT s.id, t.price_minor, t.currency FROM seats s
    JOIN ticket_types t ON t.id = s.ticket_type_id
    WHERE s.id = ANY($1::bigint[]) AND s.event_id = $2 AND s.status = 'available'
    ORDER BY s.id FOR UPDATE OF s SKIP LOCKED"""


async def _lock(
    conn: Conn, event_id: int, seat_ids: tuple[int, ...] | list[int]
) -> list[asyncpg.Record]:
    """The asked seats this transaction could lock while available (never waits)."""
    got: list[asyncpg.Record] = await conn.fetch(_LOCK_SEATS, list(seat_ids), event_id)
    return got


# One round trip for a chosen hold: lock what can be got, and know the rest (unknown or not).
_LOCK_CHOSEN = """
    WITH got AS (
        SELECT s.id FROM seats s JOIN ticket_types t ON t.id = s.ticket_type_id
        WHERE s.id = ANY($1::bigint[]) AND s.event_id = $2 AND s.status = 'available'
        ORDER BY s.id FOR UPDATE OF s SKIP LOCKED)
    SELECT s.id, t.price_minor, t.currency, s.id IN (SELECT id FROM got) AS got
    FROM seats s LEFT JOIN ticket_types t ON t.id = s.ticket_type_id
    WHERE s.id = ANY($1::bigint[]) AND s.event_id = $2 ORDER BY s.id"""


async def _chosen(conn: Conn, event_id: int, seat_ids: tuple[int, ...]) -> list[asyncpg.Record]:
    rows = await conn.fetch(_LOCK_CHOSEN, list(seat_ids), event_id)
    got = [r for r in rows if r["got"]]
    if len(got) == len(seat_ids):
        return got
    if unknown := sorted(set(seat_ids) - {r["id"] for r in rows}):
        raise BadRequest(
            f"no seat {unknown[0]} in event {event_id}", field="seat_ids", unknown=unknown
        )
    raise Rejected("unavailable", seat_ids=sorted(set(seat_ids) - {r["id"] for r in got}))


def _free_seats(type_id: int | None, section_id: int | None) -> tuple[str, list[int]]:
    """The filter of available seats of a type and/or section (both of the event)."""
    if type_id is not None:
        where, args = "s.status = 'available' AND s.ticket_type_id = $1", [type_id]
        if section_id is not None:
            where, args = f"{where} AND s.section_id = $2", [type_id, section_id]
        return where, args
    assert section_id is not None
    return "s.status = 'available' AND s.section_id = $1 AND s.ticket_type_id IS NOT NULL", [
        section_id
    ]


async def _best(
    conn: Conn,
    event_id: int,
    type_id: int | None,
    section_id: int | None,
    quantity: int,
    together: bool,
) -> list[asyncpg.Record]:
    """The first `quantity` available seats in map order (adjacent in a row if `together`)."""
    where, args = _free_seats(type_id, section_id)
    n = len(args)
    got: list[asyncpg.Record]
    if not together or quantity == 1:
        got = await conn.fetch(
            f"""SELECT s.id, t.price_minor, t.currency FROM seats s
                JOIN ticket_types t ON t.id = s.ticket_type_id WHERE {where}
                ORDER BY s.id LIMIT ${n + 1} FOR UPDATE OF s SKIP LOCKED""",
            *args,
            quantity,
        )
        if len(got) < quantity:
            raise Rejected("unavailable", available=len(got))
        return got
    # The runs as committed first, trying the best few; if those are being taken, a second
    # look that sees only seats nobody is locking (under a batch, another lane's holds lock
    # theirs until its commit, and trying run after run of them costs a round trip each).
    for unlocked in (False, True):
        windows = await _runs(conn, where, args, quantity, unlocked=unlocked)
        # The best run first; if someone is taking it, the next ones in random order, so
        # buyers arriving together spread over the front runs instead of queueing on each.
        near = windows[1 : _SPREAD + 1]
        _SPREAD_ORDER.shuffle(near)
        tries = [*windows[:1], *near, *windows[_SPREAD + 1 :]]
        for window in tries if unlocked else tries[:_FIRST_TRIES]:
            try:
                async with conn.transaction():  # a savepoint: a partly taken run lets go
                    got = await _lock(conn, event_id, window)
                    if len(got) != len(window):
                        raise Rejected("unavailable")
            except Rejected:
                continue
            return got
        if not windows:
            break  # no run at all: nothing to look at twice
    raise Rejected("unavailable", together=True)


async def _runs(
    conn: Conn, where: str, args: list[int], quantity: int, *, unlocked: bool
) -> list[tuple[int, ...]]:
    """Up to `_WINDOWS` runs of `quantity` adjacent free seats, in map order; with
    `unlocked`, of seats no other transaction is locking (read with row locks under a
    savepoint, then let go)."""
    n = len(args)
    lock = " FOR UPDATE OF s SKIP LOCKED" if unlocked else ""
    savepoint = conn.transaction()
    if unlocked:
        await savepoint.start()
    free: list[tuple[int, int, int]] = []
    windows: list[tuple[int, ...]] = []
    try:
        while len(free) < _MAX_SCAN:
            page = await conn.fetch(
                f"SELECT s.id, s.row_id, s.position FROM seats s WHERE {where}"
                f" AND s.id > ${n + 1} ORDER BY s.id LIMIT ${n + 2}{lock}",
                *args,
                free[-1][0] if free else 0,
                _PAGE,
            )
            free.extend((r["id"], r["row_id"], r["position"]) for r in page)
            windows = adjacent_windows(free, quantity, _WINDOWS)
            if len(windows) >= _WINDOWS or len(page) < _PAGE:
                break
    finally:
        if unlocked:
            await savepoint.rollback()
    return windows


async def take_places(
    conn: Conn,
    event_id: int,
    type_id: int,
    quantity: int,
    *,
    column: Literal["held", "sold"] = "held",
) -> None:
    """Count `quantity` places of a general-admission type as held (a hold) or sold
    (`tickets.issue`), within its quota; Rejected("quota_exhausted") if they do not fit.

    Both paths add to the same counter row, whose CHECK keeps `held + sold <= quota`.
    """
    # A sold-out type answers at once, from what is committed, instead of queueing for
    # the counter's row lock behind every other buyer of the type.
    left = await conn.fetchval(
        "SELECT quota - held - sold FROM ga_counters WHERE ticket_type_id = $1", type_id
    )
    if left is not None and left < quantity:
        raise Rejected("quota_exhausted", ticket_type_id=type_id, available=max(0, left))
    update = (
        f"UPDATE ga_counters SET {column} = {column} + $2, {CHANGE}"
        " WHERE ticket_type_id = $1 AND (quota IS NULL OR held + sold + $2 <= quota)"
        " RETURNING held"
    )
    if await conn.fetchval(update, type_id, quantity) is not None:
        return
    # The type's first place: create its counter. Two transactions may race to; the
    # loser waits for the winner's row and then counts on it like any later hold.
    await conn.execute(
        """INSERT INTO ga_counters (ticket_type_id, event_id, quota)
           SELECT id, event_id, quota FROM ticket_types WHERE id = $1 AND event_id = $2
           ON CONFLICT DO NOTHING""",
        type_id,
        event_id,
    )
    if await conn.fetchval(update, type_id, quantity) is None:
        left = await conn.fetchval(
            "SELECT quota - held - sold FROM ga_counters WHERE ticket_type_id = $1", type_id
        )
        raise Rejected("quota_exhausted", ticket_type_id=type_id, available=max(0, left or 0))
