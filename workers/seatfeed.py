"""The `event.{id}.seats` channel: coalesced deltas and subscribe snapshots.

docs/allocation.md §Live availability. Every seat and GA-counter change
records the transaction that made it (`changed_xid`). Every 100 ms one
worker of the namespace (whoever gets `pg_try_advisory_xact_lock`) takes a
PostgreSQL snapshot and publishes, per event, every change that snapshot sees
and the previous tick's did not: at most ten deltas a second per event, each
with the absolute state and version of every seat changed since the last.
The tick's snapshot is then stored as the cursor, in the same transaction, so
a crash between publishing and committing republishes (harmlessly: absolute
states, versions) and never skips.

A snapshot reads the cursor, then the channel position, then the database:
seats changed after that cursor may also come in a delta after the position,
so their versions go with the snapshot and the client keeps the newer one.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import orjson

from bilten.protocol.seats import GaCount, SeatRow, State, encode_delta, encode_snapshot
from bilten.workers.context import WorkerContext
from bilten.workers.seatmap import (
    CUSTOM_PLANS,
    ga_counts,
    try_namespace_lock,
)

TICK_S = 0.1
MAX_DELTA_SEATS = 2000  # a bigger burst is split over several publications
_NEW = """changed_xid >= $1::text::xid8
          AND pg_visible_in_snapshot(changed_xid, $2::text::pg_snapshot)
          AND NOT pg_visible_in_snapshot(changed_xid, $3::text::pg_snapshot)"""


def seats_channel(event_id: int) -> str:
    """`event.{event_id}.seats`."""
    return f"event.{event_id}.seats"


async def tick(ctx: WorkerContext) -> int:
    """Publish what changed since the last tick, if no other worker is; returns deltas sent."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        if not await try_namespace_lock(conn, ctx.subjects.prefix, "feed"):
            return 0
        # A generic plan knows nothing of the cursor: it could scan every seat each tick.
        await conn.execute(f"SELECT {CUSTOM_PLANS}")
        cursor = await conn.fetchrow(
            """SELECT pg_snapshot_xmin(snapshot)::text AS xmin, snapshot::text AS prev,
                      pg_current_snapshot()::text AS now FROM seat_feed WHERE id = 1"""
        )
        assert cursor is not None  # the migration inserts the one row
        window = (cursor["xmin"], cursor["now"], cursor["prev"])
        seats = await conn.fetch(
            f"SELECT event_id, id, status, version FROM seats WHERE {_NEW} ORDER BY event_id, id",
            *window,
        )
        counters = await conn.fetch(
            f"""SELECT event_id, ticket_type_id, quota, held, sold, version FROM ga_counters
                WHERE {_NEW}""",
            *window,
        )
        maps = await conn.fetch(
            f"SELECT event_id, map_version FROM allocations WHERE {_NEW}", *window
        )
        by_event: defaultdict[int, list[tuple[int, State, int]]] = defaultdict(list)
        for s in seats:
            by_event[s["event_id"]].append((s["id"], s["status"], s["version"]))
        ga: defaultdict[int, dict[int, GaCount]] = defaultdict(dict)
        for c in counters:
            ga[c["event_id"]][c["ticket_type_id"]] = GaCount(
                c["quota"], c["held"], c["sold"], c["version"]
            )
        remaps = {m["event_id"]: m["map_version"] for m in maps}
        deltas = {
            event_id: [
                encode_delta(
                    by_event[event_id][start : start + MAX_DELTA_SEATS],
                    ga[event_id] if start == 0 else {},
                    remaps.get(event_id) if start == 0 else None,
                )
                for start in range(0, max(len(by_event[event_id]), 1), MAX_DELTA_SEATS)
            ]
            for event_id in sorted(set(by_event) | set(ga) | set(remaps))
        }
        # Events in parallel, each one's parts in order; any failure fails the tick.
        for outcome in await asyncio.gather(
            *(_publish(ctx, event_id, parts) for event_id, parts in deltas.items()),
            return_exceptions=True,
        ):
            if isinstance(outcome, BaseException):
                raise outcome
        sent = sum(len(parts) for parts in deltas.values())
        if sent:  # an idle tick keeps the old cursor: same window, no write
            await conn.execute(
                "UPDATE seat_feed SET snapshot = $1::text::pg_snapshot,"
                " ticked_at = now() WHERE id = 1",
                cursor["now"],
            )
    return sent


async def _publish(ctx: WorkerContext, event_id: int, parts: list[dict[str, Any]]) -> None:
    for delta in parts:
        await ctx.channels.publish(seats_channel(event_id), orjson.dumps(delta))


async def snapshot(event_id: int, ctx: WorkerContext) -> dict[str, Any]:
    """The subscribe answer for `event.{id}.seats`: state, offset and epoch it reflects."""
    cursor = await ctx.pg.fetchrow(
        "SELECT pg_snapshot_xmin(snapshot)::text AS xmin, snapshot::text AS snap"
        " FROM seat_feed WHERE id = 1"
    )
    assert cursor is not None  # the migration inserts the one row
    position = await ctx.channels.position(seats_channel(event_id))
    offset, epoch = (position.offset, position.epoch) if position else (0, "")
    async with (
        ctx.pg.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        await conn.execute(f"SELECT {CUSTOM_PLANS}")
        rows = await conn.fetch(
            """SELECT id, section_id, ticket_type_id, status, version,
                      COALESCE(changed_xid >= $2::text::xid8 AND NOT
                               pg_visible_in_snapshot(changed_xid, $3::text::pg_snapshot),
                               false) AS recent
               FROM seats WHERE event_id = $1 ORDER BY id""",
            event_id,
            cursor["xmin"],
            cursor["snap"],
        )
        map_version = await conn.fetchval(
            "SELECT map_version FROM allocations WHERE event_id = $1", event_id
        )
        ga = await ga_counts(conn, event_id)
    seats = [
        SeatRow(
            r["id"], r["section_id"], r["ticket_type_id"], r["status"], r["version"], r["recent"]
        )
        for r in rows
    ]
    state = encode_snapshot(seats, ga, map_version=map_version or 0, offset=offset, epoch=epoch)
    return {"snapshot": state, "offset": offset, "epoch": epoch}
