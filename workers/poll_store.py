"""Reading polls back from PostgreSQL: one row shape, its spec, state and who may see it.

Shared by the engagement worker's poll commands, votes, feed and snapshot
(docs/engagement.md), so a poll is read and authorized the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from bilten.protocol.errors import NotFound
from bilten.protocol.poll_tally import PollState
from bilten.protocol.polls import PollSpec
from bilten.protocol.tokens import Claims
from bilten.workers.context import Conn, WorkerContext

COLUMNS = """p.id, p.event_id, p.session_id, p.question, p.kind, p.options, p.results,
             p.correct, p.time_limit_s, p.status, p.revealed, p.opened_at, e.org_id"""
FROM = "polls p JOIN events e ON e.id = p.event_id"


def spec_of(row: asyncpg.Record) -> PollSpec:
    """The definition votes are checked against."""
    return PollSpec(row["kind"], tuple(row["options"]), row["correct"], row["time_limit_s"])


def state_of(row: asyncpg.Record, counters: Mapping[str, int]) -> PollState:
    """The poll with its counters, ready for `poll_view`."""
    return PollState(
        row["id"],
        row["event_id"],
        row["session_id"],
        row["question"],
        spec_of(row),
        row["results"],
        row["status"],
        row["revealed"],
        counters,
    )


def authorize(claims: Claims, row: asyncpg.Record, what: str = "poll") -> None:
    """A service, or a token covering the row's event; else NotFound (another event's)."""
    if claims.role != "service" and not claims.covers_event(row["event_id"], row["org_id"]):
        raise NotFound(f"no {what} {row['id']}")


def is_organizer(claims: Claims) -> bool:
    """Whether the caller sees hidden counts and quiz answers."""
    return claims.role in ("organizer", "service")


async def load(
    conn: Conn | asyncpg.Pool, claims: Claims, poll_id: int, *, lock: bool = False
) -> asyncpg.Record:
    """The poll, visible to `claims` (FOR UPDATE with `lock`), or NotFound."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM {FROM} WHERE p.id = $1{' FOR UPDATE OF p' if lock else ''}",
        poll_id,
    )
    if row is None:
        raise NotFound(f"no poll {poll_id}")
    authorize(claims, row)
    return row


async def of_event(ctx: WorkerContext, event_id: int, session_id: int | None = None) -> list[Any]:
    """The event's polls (of one session) by id."""
    return list(
        await ctx.pg.fetch(
            f"""SELECT {COLUMNS} FROM {FROM} WHERE p.event_id = $1
                AND ($2::bigint IS NULL OR p.session_id = $2) ORDER BY p.id""",
            event_id,
            session_id,
        )
    )
