"""The check-in worker: scans decided in one PostgreSQL transaction each.

Exactly one of any number of concurrent entry scans of a ticket gets `ok`:
the decision runs under the row lock of the ticket's `ticket_presence` row,
with `protocol.checkin.decide`. A scan's `nonce` is unique per event, so a
retried scan returns the verdict stored the first time instead of
`already_inside`. The verdict is published on `event.{id}.checkins` and as a
`checkin.decided` domain event through the outbox, so neither is lost if the
worker dies after committing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bilten.core import outbox
from bilten.core.deps import Deps
from bilten.protocol.channels import event_channel
from bilten.protocol.checkin import ScanRequest, TicketState, decide, parse_scan
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Conflict
from bilten.protocol.events import parse_event_id
from bilten.protocol.tickets import InvalidCode, parse_code, verify_code
from bilten.workers.runner import CommandHandler
from bilten.workers.tickets import KeyRing

_PRESENCE = """SELECT t.id, t.state, t.holder, tt.name AS type_name, p.inside, p.entries,
                      p.last_gate, p.last_at
               FROM ticket_presence p JOIN tickets t ON t.id = p.ticket_id
               JOIN ticket_types tt ON tt.id = t.ticket_type_id
               WHERE p.ticket_id = $1 AND t.event_id = $2 FOR UPDATE OF p"""


async def identify(keys: KeyRing, pg: asyncpg.Pool, event_id: int,
                   code: str) -> tuple[int | None, str | None]:
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


async def _stored(pg: asyncpg.Pool | asyncpg.Connection, event_id: int, nonce: str,
                  code: str) -> dict[str, Any] | None:
    row = await pg.fetchrow("SELECT verdict FROM scans WHERE event_id = $1 AND nonce = $2",
                            event_id, nonce)
    if row is None:
        return None
    verdict: dict[str, Any] = row["verdict"]
    if verdict.get("code") != code:
        raise Conflict("this nonce was used for another code", field="nonce")
    return verdict


async def apply_scan(deps: Deps, keys: KeyRing, event_id: int, scan: ScanRequest, *,
                     allowed_gates: tuple[str, ...] | None, device_ok: bool | None = None,
                     device: str | None = None) -> dict[str, Any]:
    """Decide one scan (online, or synced with the device's own verdict) and record it."""
    nonce = scan.nonce or f"srv:{uuid.uuid4().hex}"
    stored = await _stored(deps.pg, event_id, nonce, scan.code)
    if stored is not None:
        return stored
    ticket_id, reason = await identify(keys, deps.pg, event_id, scan.code)
    at = scan.scanned_at or datetime.now(UTC)
    try:
        async with deps.pg.acquire() as conn, conn.transaction():
            verdict = await _decide(conn, event_id, scan, nonce, at, ticket_id, reason,
                                    allowed_gates, device_ok)
            await conn.execute(
                """INSERT INTO scans (event_id, nonce, ticket_id, gate, direction, status,
                                      reason, scanned_at, offline, device, verdict)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
                event_id, nonce, verdict["ticket"]["id"] if verdict["ticket"] else None,
                scan.gate, scan.direction, verdict["status"], verdict["reason"], at,
                device_ok is not None, device, verdict)
            ids = [await outbox.enqueue_publication(conn, event_channel(event_id, "checkins").name,
                                                    verdict),
                   await outbox.enqueue(conn, "checkin.decided",
                                        {"event_id": event_id, "scan": verdict})]
    except asyncpg.UniqueViolationError:
        # The same nonce decided concurrently elsewhere: that verdict stands.
        stored = await _stored(deps.pg, event_id, nonce, scan.code)
        assert stored is not None
        return stored
    await outbox.flush(deps, ids)
    return verdict


async def _decide(conn: asyncpg.Connection, event_id: int, scan: ScanRequest, nonce: str,
                  at: datetime, ticket_id: int | None, reason: str | None,
                  allowed_gates: tuple[str, ...] | None, device_ok: bool | None
                  ) -> dict[str, Any]:
    event = await conn.fetchrow(
        "SELECT allow_reentry, ARRAY(SELECT name FROM gates WHERE event_id = $1) AS gates"
        " FROM events WHERE id = $1", event_id)
    if scan.gate not in event["gates"]:
        raise BadRequest(f"no gate {scan.gate!r} at this event", field="gate")
    verdict: dict[str, Any] = {
        "status": "rejected", "reason": reason, "ticket": None, "previous": None,
        "gate": scan.gate, "direction": scan.direction, "scanned_at": at.isoformat(),
        "nonce": nonce, "code": scan.code, "event_id": event_id,
    }
    row = await conn.fetchrow(_PRESENCE, ticket_id, event_id) if ticket_id else None
    if ticket_id is not None and row is None:
        verdict["reason"] = "unknown"
    if row is not None:
        state = TicketState(row["state"] == "valid", row["inside"], row["entries"],
                            row["last_gate"], row["last_at"])
        decision = decide(state, scan.direction, scan.gate, at, allowed_gates=allowed_gates,
                          allow_reentry=event["allow_reentry"])
        verdict.update(status=decision.status, reason=decision.reason,
                       previous=decision.previous,
                       ticket={"id": row["id"], "holder": row["holder"],
                               "type": row["type_name"], "state": row["state"]})
        if device_ok is False:
            # The device turned them away: that is what happened at the door.
            verdict.update(status="rejected", reason=decision.reason or "device_rejected")
        elif decision.status == "ok":
            await _move(conn, event_id, row["id"], state, decision.state)
        elif device_ok and decision.reason in ("already_inside", "revoked", "reentry_forbidden"):
            verdict["status"] = "conflict"  # the device let them in: they are inside
    verdict["inside"] = await conn.fetchval(
        "SELECT COALESCE(sum(n), 0) FROM inside_counts WHERE event_id = $1", event_id)
    return verdict


async def _move(conn: asyncpg.Connection, event_id: int, ticket_id: int, old: TicketState,
                new: TicketState) -> None:
    """Persist the ticket's new state and keep the per-gate inside counts exact."""
    await conn.execute(
        "UPDATE ticket_presence SET inside = $2, entries = $3, last_gate = $4, last_at = $5"
        " WHERE ticket_id = $1", ticket_id, new.inside, new.entries, new.last_gate, new.last_at)
    if new.inside and not old.inside:
        await conn.execute(
            "INSERT INTO inside_counts (event_id, gate, n) VALUES ($1, $2, 1)"
            " ON CONFLICT (event_id, gate) DO UPDATE SET n = inside_counts.n + 1",
            event_id, new.last_gate)
    elif old.inside and not new.inside:
        await conn.execute(
            "UPDATE inside_counts SET n = n - 1 WHERE event_id = $1 AND gate = $2",
            event_id, old.last_gate)


async def scan(request: CommandRequest, deps: Deps, keys: KeyRing) -> dict[str, Any]:
    """checkin.scan: one online scan."""
    event_id = parse_event_id(request.params)
    return await apply_scan(deps, keys, event_id, parse_scan(request.params),
                            allowed_gates=request.claims.gates)


async def list_scans(request: CommandRequest, deps: Deps) -> dict[str, Any]:
    """checkin.list: decided scans, newest last; `conflicts=1` for conflicts only."""
    params = request.params
    event_id = parse_event_id(params)
    conflicts = str(params.get("conflicts", "0")).lower() in ("1", "true")
    after = int(params.get("after", 0)) if str(params.get("after", "0")).isdigit() else -1
    if after < 0:
        raise BadRequest("after must be a scan id", field="after")
    rows = await deps.pg.fetch(
        "SELECT id, verdict FROM scans WHERE event_id = $1 AND id > $2"
        " AND ($3::bool IS FALSE OR status = 'conflict') ORDER BY id LIMIT 500",
        event_id, after, conflicts)
    counts = await deps.pg.fetch(
        "SELECT gate, n FROM inside_counts WHERE event_id = $1 ORDER BY gate", event_id)
    return {"scans": [{"id": row["id"], **row["verdict"]} for row in rows],
            "inside": sum(r["n"] for r in counts),
            "inside_by_gate": {r["gate"]: r["n"] for r in counts},
            "next": rows[-1]["id"] if len(rows) == 500 else None}


def handlers(keys: KeyRing) -> dict[str, CommandHandler]:
    """The check-in worker's command handlers."""

    async def scan_(r: CommandRequest, d: Deps) -> Any:
        return await scan(r, d, keys)

    return {"checkin.scan": scan_, "checkin.list": list_scans}
