"""Announcements told as domain events from the channel history (workers/announcements.py).

docs/insight.md §Domain events. Publications are stored the way every
publisher stores them (the channel log: batched, keyed), not through the hub,
so what is told comes from the history alone; the event log, where the
persistence worker writes what the events stream holds, shows what was told.
"""

from __future__ import annotations

import asyncio
import secrets

import orjson
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from bilten.infra.channel_log import MAX_BATCH
from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.protocol.batch import pack
from bilten.protocol.subjects import HDR_COUNT, HDR_EPOCH, HDR_MSG_ID, HDR_OFFSET
from bilten.workers.announcements import tell
from bilten.workers.context import WorkerContext
from tests.waiting import WAIT_S
from tests.workers.test_domain_events import of, settled_log, utc_time

pytestmark = pytest.mark.timeout(300)


async def test_each_stored_announcement_is_told_once_keyed_by_where_it_is_stored(
    workers: Settings,
) -> None:
    async with open_deps(workers, "test") as deps:
        channel = "event.7.announcements"
        # Published together, they are stored as one batched message of the history.
        positions = await asyncio.gather(
            *(deps.channels.publish(channel, orjson.dumps({"text": f"n{n}"})) for n in range(5))
        )
        keyed = await deps.channels.publish(channel, b'{"text":"k"}', msg_id="once")
        again = await deps.channels.publish(channel, b'{"text":"k"}', msg_id="once")
        assert again == keyed
        await deps.channels.publish("event.7.polls", b"{}")  # not an announcement
        await deps.channels.publish("event.8.announcements", b'{"text":"elsewhere"}')

        log = await settled_log(workers)
        told = await deps.pg.fetch(
            "SELECT msg_id, event_id FROM event_log WHERE kind = 'announcements.sent'"
        )
    expected = {f"announcements.sent:{channel}:{p.epoch}:{p.offset}" for p in [*positions, keyed]}
    assert {r["msg_id"] for r in told if r["event_id"] == 7} == expected
    assert len(told) == 7 and [r["event_id"] for r in told].count(8) == 1
    for payload in of(log, "announcements.sent"):
        assert set(payload) == {"kind", "event_id", "at"}
        utc_time(payload["at"])


async def test_a_redelivered_batch_is_told_once_and_what_is_no_announcement_is_refused(
    migrated: Settings,
) -> None:
    """`tell` run twice over the same stored messages (a redelivery after a crash between
    publishing and acknowledging): the events stream keeps each announcement once."""
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        history = deps.subjects.history_stream
        await deps.channels.publish("event.9.announcements", b'{"text":"a"}')
        await deps.channels.publish("event.9.announcements", b'{"text":"b"}')
        await deps.js.publish(deps.subjects.publish("event.9.announcements"), b"unheaded")
        durable = deps.subjects.durable("test-announcements")
        await deps.js.add_consumer(
            history,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=deps.subjects.announcements_published,
                ack_policy=AckPolicy.EXPLICIT,
            ),
        )
        sub = await deps.js.pull_subscribe_bind(durable, history)
        msgs = await sub.fetch(3, timeout=WAIT_S)
        ctx = WorkerContext(deps, Metrics())
        first = await tell(msgs, ctx)
        second = await tell(msgs, ctx)
        assert [m.data for m in first] == [m.data for m in second] == [b"unheaded"]

        events = await deps.js.pull_subscribe(
            deps.subjects.events("announcements.sent"), stream=deps.subjects.events_stream
        )
        told = await events.fetch(10, timeout=WAIT_S)
        assert sorted((m.headers or {})[HDR_MSG_ID].rsplit(":", 1)[1] for m in told) == ["1", "2"]


@pytest.mark.parametrize(
    "hostile",
    [
        # '²' is a digit to str.isdigit, not to int().
        {HDR_EPOCH: "e1", HDR_OFFSET: "²"},
        # The epoch and the offset go into the told event's key, which the event log
        # indexes: no index row takes thousands of characters.
        {HDR_EPOCH: secrets.token_urlsafe(6000), HDR_OFFSET: "1"},
        {HDR_EPOCH: "e1", HDR_OFFSET: "".join(secrets.choice("0123456789") for _ in range(4000))},
        # No publisher stores more than MAX_BATCH in one message: a claim of 262,144
        # empty ones would have the worker publish them all in one batch.
        {HDR_EPOCH: "e1", HDR_OFFSET: "1", HDR_COUNT: str(MAX_BATCH + 1)},
    ],
    ids=["unicode_digit", "long_epoch", "long_offset", "too_many"],
)
async def test_a_message_headed_as_no_publisher_heads_one_is_refused_and_the_next_told(
    workers: Settings, hostile: dict[str, str]
) -> None:
    """Terminated as no stored announcement, not a batch failure redelivered for ever
    ahead of every event's announcements, or of every domain event in the event log."""
    async with open_deps(workers, "test") as deps:
        subject = deps.subjects.publish("event.11.announcements")
        count = int(hostile.get(HDR_COUNT, "1"))
        data = pack([b"{}"] * count) if HDR_COUNT in hostile else b'{"text":"x"}'
        await deps.js.publish(subject, data, headers=hostile)
        after = await deps.channels.publish("event.12.announcements", b'{"text":"real"}')
        await settled_log(workers)
        told = await deps.pg.fetch("SELECT msg_id FROM event_log WHERE kind = 'announcements.sent'")
    assert [r["msg_id"] for r in told] == [
        f"announcements.sent:event.12.announcements:{after.epoch}:{after.offset}"
    ]
