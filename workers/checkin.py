"""The check-in worker: scans decided in one PostgreSQL transaction each.

Exactly one of any number of concurrent entry scans of a ticket gets `ok`:
the decision runs under the row lock of the ticket's `ticket_presence` row,
with `protocol.checkin.decide`. A scan's `nonce` is unique per event, so a
retried scan returns the verdict stored the first time instead of
`already_inside`. The verdict is published on `event.{id}.checkins` and as a
`checkin.decided` domain event through the outbox, so neither is lost if the
worker dies after committing.

Scans that offline devices decided arrive later through `checkin.sync`
(docs/checkin.md §Sync & conflicts): they are applied in `scanned_at` order,
and a movement the device let through is merged into the ticket's history
(`checkin_offline.replay`), so the first admission by time stands even when
it syncs last; the scans whose verdict that changes are re-marked and their
new verdicts published (`checkin.revised`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bilten.infra import outbox
from bilten.protocol.channels import event_channel
from bilten.protocol.checkin import GATE, ScanRequest, TicketState, decide, parse_scan
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.offline import parse_sync
from bilten.protocol.params import MAX_ID, parse_int
from bilten.protocol.tickets import InvalidCode, parse_code, verify_code
from bilten.workers.checkin_offline import bundle, replay
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.keys import KeyRing
from bilten.workers.runner import CommandHandler

# Each (event, gate) count is spread over this many rows, so entries at one gate
# do not all wait for one row lock (infra/migrations/0004_inside_shards.sql).
INSIDE_SHARDS = 16

_PRESENCE = """SELECT t.id, t.state, t.revoked_at, t.holder, tt.name AS type_name, p.inside,
                      p.entries, p.last_gate, p.last_at
               FROM ticket_presence p JOIN tickets t ON t.id = p.ticket_id
               JOIN ticket_types tt ON tt.id = t.ticket_type_id
               WHERE p.ticket_id = $1 AND t.event_id = $2 FOR UPDATE OF p"""


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


async def _stored(
    pg: asyncpg.Pool | Conn, event_id: int, nonce: str, code: str
) -> dict[str, Any] | None:
    row = await pg.fetchrow(
        "SELECT verdict FROM scans WHERE event_id = $1 AND nonce = $2", event_id, nonce
    )
    if row is None:
        return None
    verdict: dict[str, Any] = row["verdict"]
    if verdict.get("code") != code:
        raise Conflict("this nonce was used for another code", field="nonce")
    return verdict


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
) -> dict[str, Any]:
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
    channel = event_channel(event_id, "checkins").name
    try:
        async with ctx.pg.acquire() as conn, conn.transaction():
            verdict, revised = await _decide(conn, attempt)
            await conn.execute(
                """INSERT INTO scans (event_id, nonce, ticket_id, gate, direction, status,
                                      reason, scanned_at, offline, device, verdict)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
                event_id,
                nonce,
                verdict["ticket"]["id"] if verdict["ticket"] else None,
                scan.gate,
                scan.direction,
                verdict["status"],
                verdict["reason"],
                at,
                origin.device_ok is not None,
                origin.device,
                verdict,
            )
            ids = [
                await outbox.enqueue_publication(conn, channel, verdict),
                await outbox.enqueue(
                    conn, "checkin.decided", {"event_id": event_id, "scan": verdict}
                ),
            ]
            for changed in revised:
                ids += [
                    await outbox.enqueue_publication(conn, channel, changed),
                    await outbox.enqueue(
                        conn, "checkin.revised", {"event_id": event_id, "scan": changed}
                    ),
                ]
    except asyncpg.UniqueViolationError:
        # The same nonce decided concurrently elsewhere: that verdict stands.
        stored = await _stored(ctx.pg, event_id, nonce, scan.code)
        assert stored is not None
        return stored
    pending.extend(ids)
    return verdict


async def _decide(conn: Conn, attempt: Attempt) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The verdict for a scan, and the stored verdicts it revised (already updated)."""
    event_id, scan, at, ticket_id = attempt.event_id, attempt.scan, attempt.at, attempt.ticket_id
    device_ok = attempt.origin.device_ok
    event = await conn.fetchrow(
        "SELECT allow_reentry, ARRAY(SELECT name FROM gates WHERE event_id = $1) AS gates"
        " FROM events WHERE id = $1",
        event_id,
    )
    if event is None:
        raise NotFound(f"no event {event_id}")
    if scan.gate not in event["gates"]:
        raise BadRequest(f"no gate {scan.gate!r} at this event", field="gate")
    verdict: dict[str, Any] = {
        "status": "rejected",
        "reason": attempt.reason,
        "ticket": None,
        "previous": None,
        "gate": scan.gate,
        "direction": scan.direction,
        "scanned_at": at.isoformat(),
        "nonce": attempt.nonce,
        "code": scan.code,
        "event_id": event_id,
        "offline": device_ok is not None,
        "device": attempt.origin.device,
    }
    revised: list[tuple[int, dict[str, Any]]] = []
    row = await conn.fetchrow(_PRESENCE, ticket_id, event_id) if ticket_id else None
    if ticket_id is not None and row is None:
        verdict["reason"] = "unknown"
    if row is not None:
        state = TicketState(
            row["state"] == "valid", row["inside"], row["entries"], row["last_gate"], row["last_at"]
        )
        decision = decide(
            state,
            scan.direction,
            scan.gate,
            at,
            allowed_gates=attempt.origin.allowed_gates,
            allow_reentry=event["allow_reentry"],
        )
        verdict.update(
            status=decision.status,
            reason=decision.reason,
            previous=decision.previous,
            ticket={
                "id": row["id"],
                "holder": row["holder"],
                "type": row["type_name"],
                "state": row["state"],
            },
        )
        if device_ok is False:
            # The device turned them away: that is what happened at the door.
            verdict.update(status="rejected", reason=decision.reason or "device_rejected")
        elif device_ok and decision.reason != "gate_not_allowed":
            # The device let them through: they moved, whatever the server knew.
            final, revised = await replay(
                conn, event_id, row, scan, at, verdict, event["allow_reentry"]
            )
            await _store_state(conn, event_id, row["id"], state, final)
        elif decision.status == "ok":
            await _store_state(conn, event_id, row["id"], state, decision.state)
    verdict["inside"] = await conn.fetchval(
        "SELECT COALESCE(sum(n), 0) FROM inside_counts WHERE event_id = $1", event_id
    )
    for scan_id, changed in revised:
        changed["inside"] = verdict["inside"]
        await conn.execute(
            "UPDATE scans SET status = $2, reason = $3, verdict = $4 WHERE id = $1",
            scan_id,
            changed["status"],
            changed["reason"],
            changed,
        )
    return verdict, [changed for _id, changed in revised]


async def _store_state(
    conn: Conn, event_id: int, ticket_id: int, old: TicketState, new: TicketState
) -> None:
    """Persist the ticket's new state and keep the per-gate inside counts exact."""
    if (old.inside, old.entries, old.last_gate, old.last_at) == (
        new.inside,
        new.entries,
        new.last_gate,
        new.last_at,
    ):
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
    moved = old.last_gate != new.last_gate
    shard = ticket_id % INSIDE_SHARDS  # a ticket always counts in the same row: n >= 0
    if old.inside and (moved or not new.inside):
        await conn.execute(
            "UPDATE inside_counts SET n = n - 1 WHERE event_id = $1 AND gate = $2 AND shard = $3",
            event_id,
            old.last_gate,
            shard,
        )
    if new.inside and (moved or not old.inside):
        await conn.execute(
            "INSERT INTO inside_counts (event_id, gate, shard, n) VALUES ($1, $2, $3, 1)"
            " ON CONFLICT (event_id, gate, shard) DO UPDATE SET n = inside_counts.n + 1",
            event_id,
            new.last_gate,
            shard,
        )


async def scan(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """checkin.scan: one online scan; its publications go out after the answer."""
    event_id = parse_event_id(request.params)
    pending: list[int] = []
    verdict = await apply_scan(
        ctx, event_id, parse_scan(request.params), ScanOrigin(request.claims.gates), pending
    )
    ctx.publisher.submit(pending)
    ctx.devices.count(request.claims, 1)
    return verdict


async def sync(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """checkin.sync: scans an offline device decided, applied in `scanned_at` order.

    Idempotent by nonce: a resubmitted scan is not applied again. Answers the
    stored verdict of every scan, in the order submitted.
    """
    event_id = parse_event_id(request.params)
    upload = parse_sync(request.params, now=datetime.now(UTC))
    gates = await ctx.pg.fetchval(
        "SELECT ARRAY(SELECT name FROM gates WHERE event_id = $1)", event_id
    )
    nonces = [s.nonce for s in upload.scans]
    known = {
        r["nonce"]: r["verdict"]["code"]
        for r in await ctx.pg.fetch(
            "SELECT nonce, verdict FROM scans WHERE event_id = $1 AND nonce = ANY($2::text[])",
            event_id,
            nonces,
        )
    }
    for n, item in enumerate(upload.scans):  # refuse before applying anything
        if item.gate not in gates:
            raise BadRequest(f"no gate {item.gate!r} at this event", field=f"scans[{n}].gate")
        if known.get(item.nonce, item.code) != item.code:
            raise Conflict("this nonce was used for another code", field=f"scans[{n}].nonce")
    pending: list[int] = []  # if we fail midway, the outbox relay publishes these
    for _position, item in upload.in_time_order():
        origin = ScanOrigin(request.claims.gates, upload.device, device_ok=item.verdict == "ok")
        await apply_scan(ctx, event_id, item.request(), origin, pending)
    ctx.publisher.submit(pending)
    ctx.devices.count(request.claims, len(set(nonces) - known.keys()))
    stored = {
        r["nonce"]: r["verdict"]
        for r in await ctx.pg.fetch(
            "SELECT nonce, verdict FROM scans WHERE event_id = $1 AND nonce = ANY($2::text[])",
            event_id,
            nonces,
        )
    }
    inside = await ctx.pg.fetchval(
        "SELECT COALESCE(sum(n), 0) FROM inside_counts WHERE event_id = $1", event_id
    )
    return {
        "event_id": event_id,
        "device": upload.device,
        "results": [stored[nonce] for nonce in nonces],
        "inside": inside,
    }


async def list_scans(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """checkin.list: decided scans, newest last; `conflicts=1` for conflicts only."""
    params = request.params
    event_id = parse_event_id(params)
    conflicts = str(params.get("conflicts", "0")).lower() in ("1", "true")
    after = parse_int(params, "after", 0, MAX_ID, default=0)
    rows = await ctx.pg.fetch(
        "SELECT id, verdict FROM scans WHERE event_id = $1 AND id > $2"
        " AND ($3::bool IS FALSE OR status = 'conflict') ORDER BY id LIMIT 500",
        event_id,
        after,
        conflicts,
    )
    counts = await ctx.pg.fetch(
        "SELECT gate, sum(n)::int AS n FROM inside_counts WHERE event_id = $1"
        " GROUP BY gate ORDER BY gate",
        event_id,
    )
    return {
        "scans": [{"id": row["id"], **row["verdict"]} for row in rows],
        "inside": sum(r["n"] for r in counts),
        "inside_by_gate": {r["gate"]: r["n"] for r in counts},
        "next": rows[-1]["id"] if len(rows) == 500 else None,
    }


async def list_inside(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """checkin.inside: who is inside now (holder, type, gate of entry, since), by ticket id.

    `gate` narrows it to those who came in through one gate; `inside` is the
    event's total, as in checkin.list.
    """
    params = request.params
    event_id = parse_event_id(params)
    limit = parse_int(params, "limit", 1, 500, default=100)
    after = parse_int(params, "after", 0, MAX_ID, default=0)
    gate = params.get("gate")
    if gate is not None and (not isinstance(gate, str) or not GATE.match(gate)):
        raise BadRequest("gate must be a gate name of [A-Za-z0-9_-]", field="gate")
    rows = await ctx.pg.fetch(
        """SELECT t.id, t.holder, tt.name AS type_name, p.last_gate, p.last_at
           FROM tickets t JOIN ticket_presence p ON p.ticket_id = t.id
           JOIN ticket_types tt ON tt.id = t.ticket_type_id
           WHERE t.event_id = $1 AND t.id > $2 AND p.inside
             AND ($4::text IS NULL OR p.last_gate = $4)
           ORDER BY t.id LIMIT $3""",
        event_id,
        after,
        limit,
        gate,
    )
    inside = await ctx.pg.fetchval(
        "SELECT COALESCE(sum(n), 0) FROM inside_counts WHERE event_id = $1", event_id
    )
    return {
        "event_id": event_id,
        "inside": inside,
        "people": [
            {
                "ticket_id": r["id"],
                "holder": r["holder"],
                "type": r["type_name"],
                "gate": r["last_gate"],
                "since": r["last_at"].isoformat(),
            }
            for r in rows
        ],
        "next": rows[-1]["id"] if len(rows) == limit else None,
    }


HANDLERS: dict[str, CommandHandler] = {
    "checkin.scan": scan,
    "checkin.list": list_scans,
    "checkin.sync": sync,
    "checkin.bundle": bundle,
    "checkin.inside": list_inside,
}
"""The check-in worker's command handlers."""
