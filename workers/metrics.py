"""The metrics worker: each event's live dashboard on `event.{id}.dashboard`.

docs/insight.md §Live dashboard. Domain events on the events stream (a
durable consumer) and subscribe snapshots mark an event watched; every
`TICK_S` each worker counts the watched events not counted in the last
second (a Redis gate per event shared by all metrics workers, and one of its
own), from PostgreSQL (workers/dashboard_counts.py). A count that differs
from the one kept in Redis is stored there and published, the whole
dashboard, unless JetStream stored the channel's last publication less than
a second ago: at most one publication per second per event, only when
something changed, and, once quiet, equal to the ground truth, whatever was
lost on the way. Subscribers start from the stored dashboard, or a fresh count when
Redis has none.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from redis.exceptions import RedisError

from bilten.protocol.channels import event_channel
from bilten.protocol.dashboard import PUBLISH_INTERVAL_S
from bilten.protocol.errors import BadRequest, NotFound
from bilten.protocol.subjects import METRICS_CONSUMER
from bilten.workers.context import WorkerContext
from bilten.workers.dashboard_counts import count
from bilten.workers.dashboard_watch import WATCH_S
from bilten.workers.shape import Consumer, Periodic, Worker

TICK_S = 0.2


async def note(msg: Msg, ctx: WorkerContext) -> None:
    """A domain event: its event's dashboard may have changed; a malformed one is terminated."""
    try:
        body = orjson.loads(msg.data)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"malformed domain event: {error}") from None
    event_id = body.get("event_id") if isinstance(body, dict) else None
    if isinstance(event_id, int) and not isinstance(event_id, bool) and event_id > 0:
        await watch(ctx, event_id)


async def watch(ctx: WorkerContext, event_id: int) -> None:
    """Keep counting the event's dashboard for the next `WATCH_S`."""
    now = time.time()
    if ctx.dashboards.note(event_id, now):
        await ctx.deps.redis.zadd(ctx.deps.keys.dashboards_watched(), {str(event_id): now})


async def tick(ctx: WorkerContext) -> int:
    """Count every watched event due for a count; returns the dashboards published."""
    redis, keys = ctx.deps.redis, ctx.deps.keys
    now = time.time()
    await redis.zremrangebyscore(keys.dashboards_watched(), "-inf", now - WATCH_S)
    shared: list[Any] = await redis.zrange(keys.dashboards_watched(), 0, -1)
    due = {int(m) for m in shared} | ctx.dashboards.events(now)
    sent = 0
    for event_id in sorted(due):
        if not ctx.dashboards.may_count(event_id, now):
            continue
        gate = keys.dashboard_gate(event_id)
        if not await redis.set(gate, b"1", nx=True, px=int(PUBLISH_INTERVAL_S * 1000)):
            continue
        ctx.dashboards.counted(event_id, now)
        try:
            published = await refresh(ctx, event_id)
        except Exception:
            # Due again on the loop's next try, so an outage is said until it ends,
            # not "recovered" by a tick that skips the event its gate still covers.
            ctx.dashboards.failed(event_id)
            with contextlib.suppress(RedisError):
                await redis.delete(gate)
            raise
        if published:
            # The next count waits a full second from this publication, not from the count.
            ctx.dashboards.counted(event_id, time.time())
            await redis.set(gate, b"1", px=int(PUBLISH_INTERVAL_S * 1000))
            sent += 1
    return sent


async def refresh(ctx: WorkerContext, event_id: int) -> int:
    """Count the event; store and publish the dashboard if it changed (and the last
    publication is a second old). Returns 1 if published.

    Stored before it is published, so a snapshot that reads the channel position
    first never pairs a publication with an older dashboard; taken back if the
    publication fails, so the next count publishes it.
    """
    redis, keys = ctx.deps.redis, ctx.deps.keys
    dashboard = await count(ctx, event_id, datetime.now(UTC))
    if dashboard is None:  # deleted: nothing more to show
        ctx.dashboards.forget(event_id)
        await redis.zrem(keys.dashboards_watched(), str(event_id))
        return 0
    data = orjson.dumps(dashboard.to_wire())
    stored = keys.dashboard(event_id)
    if await redis.get(stored) == data or await _published_lately(ctx, event_id):
        return 0
    await redis.set(stored, data, ex=int(WATCH_S))
    try:
        await ctx.channels.publish(dashboard_channel(event_id), data)
    except BaseException:
        await redis.delete(stored)
        raise
    return 1


async def _published_lately(ctx: WorkerContext, event_id: int) -> bool:
    """Whether the channel's last publication was stored within the last second.

    JetStream's own record, which no Redis flush or worker restart forgets: the
    gates are what keep counts rare, this is what keeps publications a second apart.
    """
    subject = ctx.subjects.publish(dashboard_channel(event_id))
    try:
        last = await ctx.deps.js.get_last_msg(ctx.subjects.history_stream, subject, direct=True)
    except NotFoundError:
        return False
    if last.time is None:
        return False
    return datetime.now(UTC) - last.time < timedelta(seconds=PUBLISH_INTERVAL_S)


async def snapshot(event_id: int, ctx: WorkerContext) -> dict[str, Any]:
    """The subscribe answer for `event.{id}.dashboard`: the stored dashboard, else a count.

    The channel position is read first: a publication after it is a dashboard
    as new as the snapshot's or newer, so replaying it is harmless.
    """
    position = await ctx.channels.position(dashboard_channel(event_id))
    offset, epoch = (position.offset, position.epoch) if position else (0, "")
    await watch(ctx, event_id)
    data = await ctx.deps.redis.get(ctx.deps.keys.dashboard(event_id))
    if data is not None:
        figures = orjson.loads(data)
    else:
        dashboard = await count(ctx, event_id, datetime.now(UTC))
        if dashboard is None:
            raise NotFound(f"no event {event_id}", event_id=event_id)
        figures = dashboard.to_wire()
    return {"snapshot": figures, "offset": offset, "epoch": epoch}


def dashboard_channel(event_id: int) -> str:
    """The name of the event's dashboard channel."""
    return event_channel(event_id, "dashboard").name


WORKER = Worker(
    "metrics",
    snapshots={"dashboard": snapshot},
    consumers=(Consumer(METRICS_CONSUMER, note),),
    periodic=(Periodic("dashboards", TICK_S, tick),),
)
"""Dashboards: the events consumer marks events watched, the tick counts and publishes."""
