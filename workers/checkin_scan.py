"""One scan in one PostgreSQL transaction, and the pieces every way of deciding scans shares.

Exactly one of any number of concurrent entry scans of a ticket gets `ok`:
the decision runs under the row lock of the ticket's `ticket_presence` row,
with `protocol.checkin.decide`. A scan's `nonce` is unique per event, so a
retried scan returns the verdict stored the first time instead of
`already_inside`. The verdict is published on `event.{id}.checkins` and as a
`checkin.decided` domain event through the outbox, so neither is lost if the
worker dies after committing.

`apply_scan` is the path of a synced scan (which may revise stored verdicts,
`checkin_offline.replay`) and of an online scan decided alone;
`checkin_batch` decides many online scans in one transaction with the same
rule, the same rows and the same lock order: ticket rows first, in ticket id
order, then the inside counters in (event, gate, shard) order, so no two
transactions ever wait on each other in a circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from bilten.infra import outbox
from bilten.protocol.channels import event_channel
from bilten.protocol.checkin import (
    Previous,
    ScanRequest,
    ScanVerdict,
    Status,
    TicketState,
    VerdictTicket,
    decide,
)
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.protocol.tickets import InvalidCode, parse_code, verify_code
from bilten.workers.checkin_offline import replay
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.keys import KeyRing

# Each (event, gate) count is spread over this many rows, so entries at one gate
# do not all wait for one row lock (infra/migrations/0004_inside_shards.sql).
INSIDE_SHARDS = 16

CountKey = tuple[int, str, int]
"""One row of `inside_counts`: (event id, gate, shard)."""

PRESENCE_COLUMNS = """t.id, t.event_id, t.state, t.revoked_at, t.holder, tt.name AS type_name,
                      p.inside, p.entries, p.last_gate, p.last_at
               FROM ticket_presence p JOIN tickets t ON t.id = p.ticket_id
               JOIN ticket_types tt ON tt.id = t.ticket_type_id"""
_PRESENCE = f"SELECT {PRESENCE_COLUMNS} WHERE p.ticket_id = $1 AND t.event_id = $2 FOR UPDATE OF p"
_EVENT = (
    "SELECT id, allow_reentry, ARRAY(SELECT name FROM gates g WHERE g.event_id = e.id) AS gates,"
    " (SELECT COALESCE(sum(n), 0) FROM inside_counts c WHERE c.event_id = e.id)::int AS inside"
    " FROM events e WHERE id = ANY($1::bigint[])"
)
_INSERT_SCANS = """INSERT INTO scans (event_id, nonce, ticket_id, gate, direction, status,
                                     reason, scanned_at, offline, device, verdict)
   SELECT e, n, t, g, d, s, r, a, o, v, j::jsonb
   FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
               $7::text[], $8::timestamptz[], $9::bool[], $10::text[], $11::text[])
        WITH ORDINALITY AS u (e, n, t, g, d, s, r, a, o, v, j, k) ORDER BY k"""


async def identify(
    keys: KeyRing, pg: asyncpg.Pool, event_id: int, code: str
) -> tuple[int | None, str | None]:
    """The ticket a code names, or the rejection reason (`invalid`, `wrong_event`)."""
    try:
        ref, _body, _signature = parse_code(code)
        key = await keys.get(pg, ref.event_id)
        if key is None:
            return None, "invalid"
        verify_code(code, key.public)
    except InvalidCode:
        return None, "invalid"
    if ref.event_id != event_id:
        return None, "wrong_event"
    return ref.ticket_id, None


def check_nonce(known: str, code: str, field: str = "nonce") -> None:
    """A nonce names one physical scan: refuse it with another code than it was used for."""
    if known != code:
        raise Conflict("this nonce was used for another code", field=field)


async def _stored(pg: asyncpg.Pool, event_id: int, nonce: str, code: str) -> ScanVerdict | None:
    row = await pg.fetchrow(
        "SELECT verdict FROM scans WHERE event_id = $1 AND nonce = $2", event_id, nonce
    )
    if row is None:
        return None
    verdict = ScanVerdict.from_wire(row["verdict"])
    check_nonce(verdict.code, code)
    return verdict


async def events_of(conn: Conn, event_ids: list[int]) -> dict[int, asyncpg.Record]:
    """Each event's re-entry rule, gates and people inside, by id (absent: no such event)."""
    return {row["id"]: row for row in await conn.fetch(_EVENT, event_ids)}


def check_gate(events: Mapping[int, asyncpg.Record], event_id: int, gate: str) -> bool:
    """The event's re-entry rule, once the event and the gate are known to exist."""
    event = events.get(event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    if gate not in event["gates"]:
        raise BadRequest(f"no gate {gate!r} at this event", field="gate")
    allow_reentry: bool = event["allow_reentry"]
    return allow_reentry


def state_of(row: asyncpg.Record) -> TicketState:
    """The decision's view of a presence row."""
    return TicketState(
        row["state"] == "valid", row["inside"], row["entries"], row["last_gate"], row["last_at"]
    )


def ticket_of(row: asyncpg.Record) -> VerdictTicket:
    """A verdict's `ticket` from a presence row."""
    return VerdictTicket(row["id"], row["holder"], row["type_name"], row["state"])


def count_deltas(
    event_id: int, ticket_id: int, old: TicketState, new: TicketState
) -> dict[CountKey, int]:
    """How a ticket's move changes the inside counters: {(event, gate, shard): ±1}."""
    deltas: dict[CountKey, int] = {}
    moved = old.last_gate != new.last_gate
    shard = ticket_id % INSIDE_SHARDS  # a ticket always counts in the same row: n >= 0
    if old.inside and old.last_gate is not None and (moved or not new.inside):
        deltas[(event_id, old.last_gate, shard)] = -1
    if new.inside and new.last_gate is not None and (moved or not old.inside):
        deltas[(event_id, new.last_gate, shard)] = 1
    return deltas


async def apply_counts(conn: Conn, deltas: Mapping[CountKey, int]) -> None:
    """Add the deltas to the inside counters, row by row in sorted order (no deadlocks)."""
    rows = [(*key, delta) for key, delta in sorted(deltas.items()) if delta]
    if rows:  # only a gain can meet a missing row: GREATEST keeps the proposed row valid
        await conn.executemany(
            "INSERT INTO inside_counts (event_id, gate, shard, n)"
            " VALUES ($1, $2, $3, GREATEST($4::int, 0)) ON CONFLICT (event_id, gate, shard)"
            " DO UPDATE SET n = inside_counts.n + $4::int",
            rows,
        )


async def inside_now(conn: Conn, event_ids: list[int]) -> dict[int, int]:
    """People inside each event, as this transaction sees the counters."""
    rows = await conn.fetch(
        "SELECT event_id, sum(n)::int AS n FROM inside_counts WHERE event_id = ANY($1::bigint[])"
        " GROUP BY event_id",
        event_ids,
    )
    return {event_id: 0 for event_id in event_ids} | {r["event_id"]: r["n"] for r in rows}


async def record(conn: Conn, verdicts: list[ScanVerdict]) -> list[int]:
    """Store new verdicts (in the order given) and queue their publications and
    `checkin.decided` events; returns the outbox ids, for `ctx.publisher`."""
    wire = [v.to_wire() for v in verdicts]
    await conn.execute(
        _INSERT_SCANS,
        [v.event_id for v in verdicts],
        [v.nonce for v in verdicts],
        [v.ticket.id if v.ticket else None for v in verdicts],
        [v.gate for v in verdicts],
        [v.direction for v in verdicts],
        [v.status for v in verdicts],
        [v.reason for v in verdicts],
        [v.scanned_at for v in verdicts],
        [v.offline for v in verdicts],
        [v.device for v in verdicts],
        [orjson.dumps(body).decode() for body in wire],
    )
    rows: list[tuple[str, dict[str, Any]]] = []
    for verdict, body in zip(verdicts, wire, strict=True):
        rows += [
            outbox.publication(event_channel(verdict.event_id, "checkins").name, body),
            ("checkin.decided", {"event_id": verdict.event_id, "scan": body}),
        ]
    return await outbox.enqueue_many(conn, rows)


async def _revise(conn: Conn, revised: tuple[tuple[int, ScanVerdict], ...]) -> list[int]:
    """Store and queue the stored verdicts a synced scan changed (`checkin.revised`)."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for scan_id, changed in revised:
        body = changed.to_wire()
        await conn.execute(
            "UPDATE scans SET status = $2, reason = $3, verdict = $4 WHERE id = $1",
            scan_id,
            changed.status,
            changed.reason,
            body,
        )
        rows += [
            outbox.publication(event_channel(changed.event_id, "checkins").name, body),
            ("checkin.revised", {"event_id": changed.event_id, "scan": body}),
        ]
    return await outbox.enqueue_many(conn, rows)


@dataclass(frozen=True, slots=True)
class ScanOrigin:
    """Where a scan was decided: the gates the scanner's token allows (None: any) and,
    for a scan synced from an offline device, that device and whether it let them in."""

    allowed_gates: tuple[str, ...] | None
    device: str | None = None
    device_ok: bool | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One scan being decided: what was scanned, when, where, and what its code names.

    `reason` is why the code itself is refused (`invalid`, `wrong_event`)
    before any rule runs; `ticket_id` is None then.
    """

    event_id: int
    scan: ScanRequest
    nonce: str
    at: datetime
    ticket_id: int | None
    reason: str | None
    origin: ScanOrigin


async def apply_scan(
    ctx: WorkerContext, event_id: int, scan: ScanRequest, origin: ScanOrigin, pending: list[int]
) -> ScanVerdict:
    """Decide one scan (online, or synced with the device's own verdict) and record it.

    The ids of the outbox rows it committed are added to `pending`, for the
    caller to hand to an `outbox.Publisher` (or to flush itself).
    """
    nonce = scan.nonce or f"srv:{uuid.uuid4().hex}"
    stored = await _stored(ctx.pg, event_id, nonce, scan.code)
    if stored is not None:
        return stored
    ticket_id, reason = await identify(ctx.keys, ctx.pg, event_id, scan.code)
    at = (scan.scanned_at or datetime.now(UTC)).astimezone(UTC)
    attempt = Attempt(event_id, scan, nonce, at, ticket_id, reason, origin)
    try:
        async with ctx.pg.acquire() as conn, conn.transaction():
            verdict, revised = await _decide(conn, attempt)
            ids = await record(conn, [verdict])
            ids += await _revise(conn, revised)
    except asyncpg.UniqueViolationError:
        # The same nonce decided concurrently elsewhere: that verdict stands.
        stored = await _stored(ctx.pg, event_id, nonce, scan.code)
        assert stored is not None
        return stored
    pending.extend(ids)
    return verdict


async def _decide(
    conn: Conn, attempt: Attempt
) -> tuple[ScanVerdict, tuple[tuple[int, ScanVerdict], ...]]:
    """The verdict for a scan, and the stored verdicts it revises (as new values)."""
    event_id, scan, at, ticket_id = attempt.event_id, attempt.scan, attempt.at, attempt.ticket_id
    device_ok = attempt.origin.device_ok
    allow_reentry = check_gate(await events_of(conn, [event_id]), event_id, scan.gate)
    status: Status = "rejected"
    reason, ticket = attempt.reason, None
    previous: Previous | None = None
    revised: tuple[tuple[int, ScanVerdict], ...] = ()
    row = await conn.fetchrow(_PRESENCE, ticket_id, event_id) if ticket_id else None
    if ticket_id is not None and row is None:
        reason = "unknown"
    if row is not None:
        state = state_of(row)
        decision = decide(
            state,
            scan.direction,
            scan.gate,
            at,
            allowed_gates=attempt.origin.allowed_gates,
            allow_reentry=allow_reentry,
        )
        status, reason, previous = decision.status, decision.reason, decision.previous
        ticket = ticket_of(row)
        if device_ok is False:
            # The device turned them away: that is what happened at the door.
            reason = decision.reason or "device_rejected"
            status = "rejected"
        elif device_ok and decision.reason != "gate_not_allowed":
            # The device let them through: they moved, whatever the server knew.
            replayed = await replay(conn, event_id, row, scan, at, allow_reentry)
            status, reason, previous = replayed.status, replayed.reason, replayed.previous
            revised = replayed.revised
            await _store_state(conn, event_id, row["id"], state, replayed.state)
        elif decision.status == "ok":
            await _store_state(conn, event_id, row["id"], state, decision.state)
    inside = (await inside_now(conn, [event_id]))[event_id]
    verdict = ScanVerdict(
        status,
        reason,
        ticket,
        previous,
        scan.gate,
        scan.direction,
        at,
        attempt.nonce,
        scan.code,
        event_id,
        device_ok is not None,
        attempt.origin.device,
        inside,
    )
    return verdict, tuple((scan_id, replace(v, inside=inside)) for scan_id, v in revised)


async def _store_state(
    conn: Conn, event_id: int, ticket_id: int, old: TicketState, new: TicketState
) -> None:
    """Persist the ticket's new state and keep the per-gate inside counts exact."""
    if old == replace(new, valid=old.valid):
        return
    await conn.execute(
        "UPDATE ticket_presence SET inside = $2, entries = $3, last_gate = $4, last_at = $5"
        " WHERE ticket_id = $1",
        ticket_id,
        new.inside,
        new.entries,
        new.last_gate,
        new.last_at,
    )
    await apply_counts(conn, count_deltas(event_id, ticket_id, old, new))
