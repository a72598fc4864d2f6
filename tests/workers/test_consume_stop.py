"""A worker stopping mid-fetch (workers/runner.py `consume`, workers/batch_consumer.py
`consume_batches`) loses no message it was given.

A message the server delivered to a fetch the stop gave up on is either handled
or handed back to the stream, never left waiting out the consumer's ack wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.workers.batch_consumer import consume_batches
from bilten.workers.context import WorkerContext
from bilten.workers.runner import consume
from tests.waiting import WAIT_S, arrives, wait_for

_BODY = b'{"probe":"stop"}'


@pytest.mark.parametrize("batches", [False, True], ids=["one_by_one", "in_batches"])
async def test_a_message_delivered_as_the_worker_stops_is_handled_or_given_back(
    migrated: Settings, batches: bool
) -> None:
    handled: list[bytes] = []

    async def handler(msg: Msg, ctx: WorkerContext) -> None:
        handled.append(msg.data)

    async def batch_handler(msgs: Sequence[Msg], ctx: WorkerContext) -> Sequence[Msg]:
        handled.extend(msg.data for msg in msgs)
        return []

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
                ack_wait=600.0,  # longer than the test waits: never what settles it
            ),
        )

        async def delivered(msg: Msg) -> None:  # the stop comes as the message reaches the worker
            if msg.data == _BODY:
                stop.set()

        spy = await deps.nc.subscribe("_INBOX.>", cb=delivered)
        ctx = WorkerContext(deps, Metrics())
        task = asyncio.get_running_loop().create_task(
            consume_batches(ctx, "probe", durable, batch_handler, stop)
            if batches
            else consume(ctx, "probe", durable, handler, stop)
        )

        async def polling() -> bool:
            return (await deps.js.consumer_info(stream, durable)).num_waiting > 0

        await wait_for(polling, what="the worker to wait for a message")
        await deps.js.publish(subject, _BODY)
        await arrives(task, what="the worker to stop")
        await spy.unsubscribe()

        async def settled() -> bool:  # the server takes acks and naks in its own time
            info = await deps.js.consumer_info(stream, durable)
            assert info.num_ack_pending == 0, "a message fetched was neither acked nor given back"
            return True

        await wait_for(settled, what="the delivered message to be acked or given back")
        if not handled:  # given back: the next fetch has it at once, not after the ack wait
            sub = await deps.js.pull_subscribe_bind(durable, stream)
            handled += [msg.data for msg in await sub.fetch(1, timeout=WAIT_S)]
    assert stop.is_set()
    assert handled == [_BODY]
