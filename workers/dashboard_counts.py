"""Counting one event's dashboard from the ground truth: PostgreSQL, and presence in Redis.

docs/insight.md §Live dashboard. Every figure is counted from the tables the
owning workers write (scans and inside counters, orders, seats, polls and
ballots, questions) in one repeatable-read transaction, so the figures of one
dashboard agree with each other; the people online come from the hubs'
presence sets. A count costs a fixed number of indexed queries whatever the
traffic, which is why the worker recounts rather than keeping deltas: a lost
or doubled domain event can never leave the dashboard wrong.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from bilten.protocol.dashboard import (
    ONLINE_WINDOW_S,
    Dashboard,
    minute_of,
    online_counts,
    per_minute,
    series_start,
)
from bilten.workers.context import Conn, WorkerContext

_CHECKED_IN = """SELECT count(*)::int FROM ticket_presence p JOIN tickets t ON t.id = p.ticket_id
                 WHERE t.event_id = $1 AND p.entries > 0"""
_INSIDE = """SELECT gate, sum(n)::int AS n FROM inside_counts WHERE event_id = $1
             GROUP BY gate HAVING sum(n) > 0"""
_PER_MINUTE = """SELECT date_trunc('minute', scanned_at) AS m, count(*)::int AS n FROM scans
                 WHERE event_id = $1 AND scanned_at >= $2 AND scanned_at < $3 GROUP BY m"""
_TURNED = """SELECT status, reason, count(*)::int AS n FROM scans
             WHERE event_id = $1 AND status <> 'ok' GROUP BY status, reason"""
_SALES = """SELECT currency, count(*)::int AS orders, sum(cardinality(ticket_ids))::int AS tickets,
                   sum(amount_minor)::bigint AS amount
            FROM orders WHERE event_id = $1 GROUP BY currency"""
_SEATS = "SELECT status, count(*)::int AS n FROM seats WHERE event_id = $1 GROUP BY status"
_POLLS = """SELECT p.id, (SELECT count(*)::int FROM poll_ballots b WHERE b.poll_id = p.id) AS n
            FROM polls p WHERE p.event_id = $1 AND p.status = 'open'"""
_QUESTIONS = """SELECT count(*)::int FROM questions
                WHERE event_id = $1 AND state <> 'hidden' AND NOT answered"""


async def count(ctx: WorkerContext, event_id: int, at: datetime) -> Dashboard | None:
    """The event's dashboard as of `at` (aware, UTC); None when there is no such event."""
    async with ctx.pg.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        if await conn.fetchval("SELECT 1 FROM events WHERE id = $1", event_id) is None:
            return None
        figures = await _from_tables(conn, event_id, minute_of(at))
    online = await _online(ctx, event_id)
    return Dashboard(event_id=event_id, minute=minute_of(at), online=online, **figures)


async def _from_tables(conn: Conn, event_id: int, minute: datetime) -> dict[str, Any]:
    inside = {r["gate"]: r["n"] for r in await conn.fetch(_INSIDE, event_id)}
    minutes = await conn.fetch(
        _PER_MINUTE, event_id, series_start(minute), minute + timedelta(minutes=1)
    )
    turned = await conn.fetch(_TURNED, event_id)
    sales = await conn.fetch(_SALES, event_id)
    return {
        "checked_in": await conn.fetchval(_CHECKED_IN, event_id),
        "inside": sum(inside.values()),
        "inside_by_gate": inside,
        "scans_per_minute": per_minute(((r["m"], r["n"]) for r in minutes), minute),
        "rejections": {r["reason"]: r["n"] for r in turned if r["status"] == "rejected"},
        "offline_conflicts": sum(r["n"] for r in turned if r["status"] == "conflict"),
        "tickets_sold": sum(r["tickets"] for r in sales),
        "orders": sum(r["orders"] for r in sales),
        "revenue": {r["currency"]: r["amount"] for r in sales},
        "seats": {r["status"]: r["n"] for r in await conn.fetch(_SEATS, event_id)},
        "open_polls": len(polls := await conn.fetch(_POLLS, event_id)),
        "poll_voters": {r["id"]: r["n"] for r in polls},
        "open_questions": await conn.fetchval(_QUESTIONS, event_id),
    }


async def _online(ctx: WorkerContext, event_id: int) -> dict[str, int]:
    """Distinct people online at the event across hubs, from their presence set."""
    key = ctx.deps.keys.presence(event_id)
    members: list[Any] = await ctx.deps.redis.zrangebyscore(
        key, time.time() - ONLINE_WINDOW_S, "+inf"
    )
    return online_counts(m.decode() if isinstance(m, bytes) else m for m in members)
