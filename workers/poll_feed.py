"""The `event.{id}.polls` channel: coalesced results and the subscribe snapshot.

docs/engagement.md §Channel. Votes and poll commands mark a poll changed (a
Redis set); every 100 ms one engagement worker of the namespace (whoever gets
the advisory lock, and only if no worker published within the last 100 ms: a
Redis key set for a tick) takes the changed polls and publishes each once,
with its full state and tallies: at most ten publications a second per poll, each
self-contained, in the order the one publisher read them. What everyone sees
is the attendee-safe form (protocol/poll_tally.poll_view), and so is the
snapshot (a snapshot request does not say who subscribes); organizers read
hidden counts with `polls.results`, `polls.get` and `polls.list`. The same
tick closes quiz questions whose time is up.
"""

from __future__ import annotations

from typing import Any

import orjson

from bilten.protocol.poll_tally import VOTERS, poll_view
from bilten.workers import poll_counts, poll_leaderboard
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.poll_store import COLUMNS, FROM, of_event, spec_of, state_of
from bilten.workers.polls import views
from bilten.workers.seatmap import try_namespace_lock

TICK_S = 0.1
CHECK_S = 1.0
MAX_PER_TICK = 1000


async def tick(ctx: WorkerContext) -> int:
    """Close quizzes whose time is up, then publish every changed poll; returns publications."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        if not await try_namespace_lock(conn, ctx.subjects.prefix, "polls"):
            return 0
        expired = await conn.fetch(
            """UPDATE polls SET status = 'closed', closed_at = now()
               WHERE kind = 'quiz' AND status = 'open'
                 AND opened_at + time_limit_s * interval '1 second' <= now()
               RETURNING id, event_id, session_id"""
        )
        for quiz in expired:
            await poll_counts.mark_changed(ctx, quiz["event_id"], quiz["id"])
        key = ctx.deps.keys.polls_changed()
        members: list[bytes | str] = []
        if await _claim_tick(ctx):
            taken: Any = await ctx.deps.redis.spop(key, MAX_PER_TICK)
            members = list(taken or [])
        try:
            sent = await _publish(ctx, conn, [_parse(m) for m in members])
        except BaseException:
            if members:  # published or not, they will be again
                await ctx.deps.redis.sadd(key, *members)
            raise
    for quiz in expired:
        await poll_leaderboard.publish(ctx, quiz["event_id"], quiz["session_id"], quiz["id"])
    return sent


async def check(ctx: WorkerContext) -> int:
    """Have polls whose counters were lost, went wrong or went unpublished published again."""
    again = await poll_counts.check(ctx)
    for event_id, poll_id in again:
        await poll_counts.mark_changed(ctx, event_id, poll_id)
    return len(again)


async def _claim_tick(ctx: WorkerContext) -> bool:
    """Whether this tick may publish: none did, by any worker, within the last TICK_S
    (Redis's clock; the advisory lock alone lets two workers publish a poll back to back)."""
    tick_ms = max(int(TICK_S * 1000), 1)
    return bool(await ctx.deps.redis.set(ctx.deps.keys.polls_tick(), 1, px=tick_ms, nx=True))


def _parse(member: bytes | str) -> tuple[int, int]:
    text = member.decode() if isinstance(member, bytes) else member
    event_id, poll_id = text.split(":")
    return int(event_id), int(poll_id)


async def _publish(ctx: WorkerContext, conn: Conn, changed: list[tuple[int, int]]) -> int:
    """Publish the polls' states as the tick's transaction sees them (quizzes it closed)."""
    if not changed:
        return 0
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM {FROM} WHERE p.id = ANY($1::bigint[]) ORDER BY p.id",
        sorted({poll_id for _, poll_id in changed}),
    )
    counters = await poll_counts.counters(ctx, {r["id"]: spec_of(r) for r in rows})
    shown = {r["id"]: poll_view(state_of(r, counters[r["id"]]), organizer=False) for r in rows}
    for event_id, poll_id in sorted(set(changed)):
        channel = poll_leaderboard.polls_channel(event_id)
        view = shown.get(poll_id)
        if view is None:
            body: dict[str, Any] = {"type": "poll_deleted", "poll_id": poll_id}
        else:
            body = {"type": "poll", "poll": view}
        await ctx.channels.publish(channel, orjson.dumps(body))
    for poll_id, got in counters.items():
        await poll_counts.published(ctx, poll_id, got.get(VOTERS, 0))
    return len(set(changed))


async def snapshot(event_id: int, ctx: WorkerContext) -> dict[str, Any]:
    """The subscribe answer for `event.{id}.polls`: every poll of the event, attendee-safe.

    The channel position is read first: a publication after it is a full state newer
    than (or equal to) the snapshot's, so replaying it is harmless.
    """
    position = await ctx.channels.position(poll_leaderboard.polls_channel(event_id))
    offset, epoch = (position.offset, position.epoch) if position else (0, "")
    polls = await views(ctx, await of_event(ctx, event_id), organizer=False)
    return {"snapshot": {"polls": polls}, "offset": offset, "epoch": epoch}
