"""The `event.{id}.qa` channel: one session's visible list per publication, and snapshots.

docs/engagement.md §Q&A. Every FEED_TICK_S each qa worker tries; one of the
namespace (whoever gets the advisory lock, so publications of a session never
overtake each other, and only if nobody published within the last tick, so
more workers do not mean more publications) takes the sessions marked in
`qa_dirty`, reads each one's visible list and publishes it whole: a late
subscriber or a lost publication costs nothing, and a session changes on the
channel at most five times a second however many upvotes arrive. Taking the
marks and publishing happen in one transaction: a failed publication leaves
the marks for the next tick.

Only visible questions are ever read here: pending and hidden ones cannot
reach a subscriber, whatever the subscriber's role.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson

from bilten.protocol.qa import FEED_TICK_S, MAX_LISTED, encode_list
from bilten.workers.context import WorkerContext
from bilten.workers.qa_store import COLUMNS, ORDER, question_of, session_list
from bilten.workers.seatmap import try_namespace_lock


def qa_channel(event_id: int) -> str:
    """`event.{event_id}.qa`."""
    return f"event.{event_id}.qa"


async def tick(ctx: WorkerContext) -> int:
    """Publish the list of every session changed since the last tick; returns how many."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        if not await try_namespace_lock(conn, ctx.subjects.prefix, "qa") or await conn.fetchval(
            "SELECT published_at > now() - make_interval(secs => $1) FROM qa_feed WHERE id = 1",
            FEED_TICK_S,
        ):
            return 0  # another worker is publishing, or published less than a tick ago
        changed = await conn.fetch(
            """WITH taken AS (DELETE FROM qa_dirty RETURNING session_id, event_id)
               SELECT session_id, event_id FROM taken ORDER BY session_id"""
        )
        if changed:
            await conn.execute("UPDATE qa_feed SET published_at = now() WHERE id = 1")
        for row in changed:
            questions = await session_list(conn, row["session_id"], everything=False)
            await ctx.channels.publish(
                qa_channel(row["event_id"]),
                orjson.dumps(encode_list(row["session_id"], questions)),
            )
    return len(changed)


async def snapshot(event_id: int, ctx: WorkerContext) -> dict[str, Any]:
    """The subscribe answer for `event.{id}.qa`: every session's visible list, and the
    channel position it is at least as new as (publications after it replace lists)."""
    position = await ctx.channels.position(qa_channel(event_id))
    offset, epoch = (position.offset, position.epoch) if position else (0, "")
    rows = await ctx.pg.fetch(
        f"""SELECT {COLUMNS} FROM (
                SELECT *, row_number() OVER (PARTITION BY session_id ORDER BY {ORDER}) AS place
                FROM questions WHERE event_id = $1 AND state = 'visible') AS q
            WHERE place <= $2 ORDER BY session_id, {ORDER}""",
        event_id,
        MAX_LISTED,
    )
    by_session: defaultdict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_session[row["session_id"]].append(question_of(row))
    sessions = [encode_list(s, questions) for s, questions in by_session.items()]
    return {"snapshot": {"sessions": sessions}, "offset": offset, "epoch": epoch}
