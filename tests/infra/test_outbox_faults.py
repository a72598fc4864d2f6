"""The outbox publisher outlives a NATS that cannot store: it retries, then publishes all."""

from __future__ import annotations

import asyncio
import logging

import nats
import pytest

from bilten.infra import outbox
from bilten.infra.channel_log import ChannelLog
from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from tests.waiting import arrives, wait_for

CHANNEL = "event.1.announcements"


async def test_publisher_survives_unavailable_and_publishes_once_back(
    migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bilten.infra.loops")
    assert migrated.nats_url
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        working = deps.channels
        closed = await nats.connect(migrated.nats_url)
        await closed.close()  # a real connection that cannot publish any more
        deps.channels = ChannelLog(closed.jetstream(), deps.subjects, timeout=1.0)
        async with deps.pg.acquire() as conn, conn.transaction():
            ids = [await outbox.enqueue_publication(conn, CHANNEL, {"n": n}) for n in range(3)]
        publisher = outbox.Publisher()
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(publisher.run(deps, stop))
        publisher.submit(ids)
        await wait_for(
            lambda: any(r.levelname == "WARNING" for r in caplog.records),
            what="the first failure to be logged",
        )
        assert not task.done()  # the loop is alive, not dead of Unavailable
        deps.channels = working  # NATS is back

        async def drained() -> bool:  # the backoff is capped: it retries soon
            return not await deps.pg.fetchval("SELECT count(*) FROM outbox")

        await wait_for(drained, what="the outbox to drain once NATS is back")
        stop.set()
        await arrives(task, what="the publisher to stop")
        position = await working.position(CHANNEL)
    assert position is not None and position.offset == 3
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["WARNING", "INFO"], messages
    assert "outbox publisher failing (unavailable" in messages[0][1]
