"""A worker stopping mid-fetch (workers/runner.py `consume`) loses no message it was given.

A message the server delivered to a fetch the stop gave up on is either handled
or handed back to the stream, never left waiting out the consumer's ack wait.
"""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.workers.context import WorkerContext
from bilten.workers.runner import consume
from tests.waiting import arrives, wait_for

_BODY = b'{"probe":"stop"}'


async def test_a_message_delivered_as_the_worker_stops_is_handled_or_given_back(
    migrated: Settings,
) -> None:
    handled: list[bytes] = []

    async def handler(msg: Msg, ctx: WorkerContext) -> None:
        handled.append(msg.data)

    stop = asyncio.Event()
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        stream, durable = deps.subjects.events_stream, deps.subjects.durable("probe-stop")
        subject = deps.subjects.events("probe.stop")
        await deps.js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=subject,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30.0,
            ),
        )

        async def delivered(msg: Msg) -> None:  # the stop comes as the message reaches the worker
            if msg.data == _BODY:
                stop.set()

        spy = await deps.nc.subscribe("_INBOX.>", cb=delivered)
        ctx = WorkerContext(deps, Metrics())
        task = asyncio.get_running_loop().create_task(consume(ctx, "probe", durable, handler, stop))

        async def polling() -> bool:
            return (await deps.js.consumer_info(stream, durable)).num_waiting > 0

        await wait_for(polling, what="the worker to wait for a message")
        await deps.js.publish(subject, _BODY)
        await arrives(task, what="the worker to stop")
        await spy.unsubscribe()
        info = await deps.js.consumer_info(stream, durable)
    assert stop.is_set()
    assert info.num_ack_pending == 0, "a message fetched was neither acked nor given back"
    assert len(handled) + info.num_pending == 1
