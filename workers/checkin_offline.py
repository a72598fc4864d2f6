"""Offline check-in on the worker side: the device bundle, and replaying a ticket's history.

docs/checkin.md §Offline bundle, §Sync & conflicts. A scan synced from an
offline device may be older than scans the server already decided. "The
first admission by `scanned_at` stands" must hold whatever the order of
arrival, so a synced admission (or exit) is not judged against the ticket's
current state but merged into its history: every movement the door let
through (status `ok` or `conflict`) is replayed in `scanned_at` order with
`decide`, and each gets `ok` if the rule accepts it at its time, `conflict`
otherwise. Turned-away scans moved no one and stay out of the replay.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from bilten.protocol.checkin import (
    Direction,
    Previous,
    ScanRequest,
    ScanVerdict,
    Status,
    TicketState,
    decide,
)
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import NotFound, TooLarge
from bilten.protocol.events import parse_event_id
from bilten.protocol.offline import Bundle, BundleTicket, encode_bundle, initials
from bilten.protocol.tickets import public_key_text
from bilten.workers.context import Conn, WorkerContext

_LAST = 2**63  # a scan not stored yet sorts after stored ones of the same instant
_REPLY_OVERHEAD = 1024


@dataclass(frozen=True, slots=True)
class Replayed:
    """A synced movement merged into its ticket's history: its own verdict fields,
    the ticket's resulting state, and the stored verdicts that changed (by scan id)."""

    status: Status
    reason: str | None
    previous: Previous | None
    state: TicketState
    revised: tuple[tuple[int, ScanVerdict], ...]


async def replay(
    conn: Conn,
    event_id: int,
    ticket: asyncpg.Record,
    scan: ScanRequest,
    at: datetime,
    allow_reentry: bool,
) -> Replayed:
    """Merge a synced movement into the ticket's history (the caller holds its row lock).

    Stored verdicts are not touched: each one whose status, reason or
    previous the replay changes comes back as a new value with `revised_at`,
    for the caller to store and publish.
    """
    history = await conn.fetch(
        "SELECT id, direction, gate, scanned_at, verdict FROM scans WHERE event_id = $1"
        " AND ticket_id = $2 AND status IN ('ok', 'conflict')",
        event_id,
        ticket["id"],
    )
    moves: list[tuple[datetime, int, Direction, str, ScanVerdict | None]] = [
        (r["scanned_at"], r["id"], r["direction"], r["gate"], ScanVerdict.from_wire(r["verdict"]))
        for r in history
    ]
    moves.append((at, _LAST, scan.direction, scan.gate, None))
    moves.sort(key=lambda move: (move[0], move[1]))
    revoked_at: datetime | None = ticket["revoked_at"]
    state = TicketState(valid=True)
    own: tuple[Status, str | None, Previous | None] | None = None
    changed: list[tuple[int, ScanVerdict]] = []
    revised_at = datetime.now(UTC)
    for when, scan_id, direction, gate, old in moves:
        # A ticket revoked later still admitted whoever came before the revocation.
        valid = revoked_at is None or when < revoked_at
        decision = decide(
            replace(state, valid=valid),
            direction,
            gate,
            when,
            allowed_gates=None,
            allow_reentry=allow_reentry,
        )
        state = decision.state
        fields: tuple[Status, str | None, Previous | None] = (
            "ok" if decision.status == "ok" else "conflict",
            decision.reason,
            decision.previous,
        )
        if old is None:
            own = fields
        elif (old.status, old.reason, old.previous) != fields:
            status, reason, previous = fields
            revision = replace(
                old, status=status, reason=reason, previous=previous, revised_at=revised_at
            )
            changed.append((scan_id, revision))
    assert own is not None  # the new movement is one of the moves
    status, reason, previous = own
    return Replayed(
        status,
        reason,
        previous,
        replace(state, valid=ticket["state"] == "valid"),
        tuple(changed),
    )


async def bundle(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """checkin.bundle: what a door device needs to decide scans of the event alone."""
    event_id = parse_event_id(request.params)
    key = await ctx.keys.get(ctx.pg, event_id, create=True)
    if key is None:
        raise NotFound(f"no event {event_id}")
    async with (
        ctx.pg.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        event = await conn.fetchrow(
            "SELECT allow_reentry, now() AS generated_at, ARRAY(SELECT name FROM gates"
            " WHERE event_id = $1 ORDER BY name) AS gates FROM events WHERE id = $1",
            event_id,
        )
        if event is None:
            raise NotFound(f"no event {event_id}")
        rows = await conn.fetch(
            """SELECT t.id, tt.name AS type_name, t.holder, t.state, p.inside, p.entries,
                      p.last_gate
               FROM tickets t JOIN ticket_types tt ON tt.id = t.ticket_type_id
               JOIN ticket_presence p ON p.ticket_id = t.id
               WHERE t.event_id = $1 ORDER BY t.id""",
            event_id,
        )
    tickets = tuple(
        BundleTicket(
            r["id"],
            r["type_name"],
            initials(r["holder"]),
            r["state"] != "valid",
            r["last_gate"] if r["inside"] else None,
            r["entries"] > 0,
        )
        for r in rows
    )
    gates = request.claims.gates
    body = encode_bundle(
        Bundle(
            event_id,
            event["generated_at"],
            public_key_text(key.public),
            tuple(event["gates"]),
            None if gates is None else tuple(gates),
            event["allow_reentry"],
            tickets,
        )
    )
    size, limit = len(orjson.dumps(body)), ctx.nc.max_payload - _REPLY_OVERHEAD
    if size > limit:  # the reply would not fit in one NATS message
        raise TooLarge(size, limit)
    return body
