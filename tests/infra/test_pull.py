"""BatchPuller on a real JetStream consumer: whole batches, each message once, nothing
dropped when a fetch is cut short or the puller closes with messages in hand."""

from __future__ import annotations

import orjson
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bilten.infra.deps import open_deps
from bilten.infra.pull import BatchPuller, PullRefused
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from tests.waiting import WAIT_S, wait_for
from tests.workers.test_persistence import publish_events

EXPIRY_S = 0.2  # a long poll's expiry: how long an empty fetch waits for a first message


async def test_batches_take_every_message_once_in_order(migrated: Settings) -> None:
    async with open_deps(migrated, "test-pull") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        durable = deps.subjects.durable("test-pull")
        await deps.js.add_consumer(
            deps.subjects.events_stream,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=60.0,
            ),
        )
        puller = BatchPuller(deps.nc, deps.subjects.events_stream, durable)
        await puller.open()
        try:
            assert await puller.fetch(100, EXPIRY_S) == []  # nothing there: empty, not an error
            await publish_events(deps, 1_050)
            seen: list[int] = []

            async def all_fetched() -> bool:
                msgs = await puller.fetch(100, EXPIRY_S)
                assert len(msgs) <= 100
                for msg in msgs:
                    seen.append(msg.metadata.sequence.stream)
                    await msg.ack()
                return len(seen) >= 1_050

            await wait_for(all_fetched, what="every message fetched")
            assert seen == list(range(1, 1_051))

            # Delivered but never handled: back to the stream at once when the puller closes.
            await publish_events(deps, 10, start=1_050)
            first = await wait_for(lambda: puller.fetch(4, EXPIRY_S), what="a first batch")
            assert [m.metadata.sequence.stream for m in first] == [1_051, 1_052, 1_053, 1_054]
            for msg in first:
                await msg.ack()
        finally:
            await puller.close()
        again = BatchPuller(deps.nc, deps.subjects.events_stream, durable)
        await again.open()
        try:
            rest: list[int] = []

            async def redelivered() -> bool:
                rest.extend(m.metadata.sequence.stream for m in await again.fetch(100, EXPIRY_S))
                return len(rest) >= 6

            # Well within the 60 s ack wait: the nak, not the timeout, brought them back.
            await wait_for(redelivered, what="the unhandled messages again", timeout=30.0)
            assert sorted(rest) == list(range(1_055, 1_061))
        finally:
            await again.close()


async def test_a_refused_pull_is_an_error_not_an_empty_batch(migrated: Settings) -> None:
    async with open_deps(migrated, "test-pull") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        durable, stream = deps.subjects.durable("test-pull-small"), deps.subjects.events_stream
        # A consumer taking at most 10 a request (max_batch: nats-py's ConsumerConfig lacks it).
        config = {"durable_name": durable, "ack_policy": "explicit", "max_batch": 10}
        created = await deps.nc.request(
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            orjson.dumps({"stream_name": stream, "config": config}),
            timeout=WAIT_S,
        )
        assert "error" not in orjson.loads(created.data), created.data
        puller = BatchPuller(deps.nc, stream, durable)
        await puller.open()
        try:
            # Empty batches would make the consumer ask again at once, forever.
            with pytest.raises(PullRefused) as refused:
                await puller.fetch(100, EXPIRY_S)
            assert refused.value.status == "409", refused.value
            assert await puller.fetch(10, EXPIRY_S) == []  # a request it takes: no error
        finally:
            await puller.close()
