"""The rows every way of deciding scans reads and writes, and the order it locks them in.

A scan is decided under the row lock of its ticket's `ticket_presence` row
and changes the per-gate inside counters; it is stored in `scans` and its
publication and `checkin.decided` event go through the outbox in the same
transaction. Deciding one scan (`checkin_scan`) and deciding a batch
(`checkin_batch`) share these pieces, and one lock order: ticket rows first,
in ticket id order, then the inside counters in (event, gate, shard) order,
so no two transactions ever wait on each other in a circle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson

from bilten.infra import outbox
from bilten.protocol.channels import event_channel
from bilten.protocol.checkin import ScanVerdict, TicketState, VerdictTicket
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.protocol.tickets import InvalidCode, parse_code, verify_code
from bilten.workers.context import Conn
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
