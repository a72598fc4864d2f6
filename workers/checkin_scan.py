"""One scan in one PostgreSQL transaction: a synced scan, or an online one decided alone.

Exactly one of any number of concurrent entry scans of a ticket gets `ok`:
the decision runs under the row lock of the ticket's `ticket_presence` row,
with `protocol.checkin.decide`. A scan's `nonce` is unique per event, so a
retried scan returns the verdict stored the first time instead of
`already_inside`. A synced scan the device let through is merged into the
ticket's history (`checkin_offline.replay`), which may revise stored
verdicts. The rows and the lock order are `checkin_rows`'s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bilten.infra import outbox
from bilten.protocol.channels import event_channel
from bilten.protocol.checkin import Previous, ScanRequest, ScanVerdict, Status, TicketState, decide
from bilten.workers.checkin_offline import replay
from bilten.workers.checkin_rows import (
    PRESENCE_COLUMNS,
    apply_counts,
    check_gate,
    check_nonce,
    count_deltas,
    events_of,
    identify,
    inside_now,
    record,
    state_of,
    ticket_of,
)
from bilten.workers.context import Conn, WorkerContext

_PRESENCE = f"SELECT {PRESENCE_COLUMNS} WHERE p.ticket_id = $1 AND t.event_id = $2 FOR UPDATE OF p"


async def _stored(pg: asyncpg.Pool, event_id: int, nonce: str, code: str) -> ScanVerdict | None:
    row = await pg.fetchrow(
        "SELECT verdict FROM scans WHERE event_id = $1 AND nonce = $2", event_id, nonce
    )
    if row is None:
        return None
    verdict = ScanVerdict.from_wire(row["verdict"])
    check_nonce(verdict.code, code)
    return verdict


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
