"""JetStream declarations on a real server: twice is fine, changes are applied."""

from __future__ import annotations

import asyncio

import nats

from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.protocol.subjects import Subjects


async def test_declare_twice_then_change_limits(settings: Settings) -> None:
    assert settings.nats_url
    subjects = Subjects(settings.namespace)
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await declare(js, subjects, StreamLimits(history_size=100))
        await declare(js, subjects, StreamLimits(history_size=100))
        info = await js.stream_info(subjects.history_stream)
        assert info.config.max_msgs_per_subject == 100
        assert info.config.republish is not None
        assert info.config.republish.dest == subjects.republish_destination
        await declare(js, subjects, StreamLimits(history_size=50))
        info = await js.stream_info(subjects.history_stream)
        assert info.config.max_msgs_per_subject == 50
        events = await js.stream_info(subjects.events_stream)
        assert events.config.subjects == [subjects.events(">")]
        consumer = await js.consumer_info(subjects.events_stream, f"{subjects.prefix}-persistence")
        assert consumer.config.max_deliver == -1  # the event log waits out any outage
        told = await js.consumer_info(subjects.history_stream, f"{subjects.prefix}-announcements")
        assert told.config.filter_subject == subjects.announcements_published
        assert told.config.max_deliver == -1
        replay = await js.stream_info(subjects.replay_stream)
        assert replay.config.subjects == [subjects.replay(">", ">")]
    finally:
        await nc.close()


async def test_processes_declaring_at_once_all_succeed(settings: Settings) -> None:
    """Workers and hubs start together: a create racing another's create of the same stream
    is told its subjects overlap, and must wait it out (without: about 1 try in 15 of 4)."""
    assert settings.nats_url
    connections = [await nats.connect(settings.nats_url) for _ in range(4)]
    js = connections[0].jetstream()
    try:
        for attempt in range(40):
            subjects = Subjects(f"{settings.namespace}r{attempt}")
            try:
                await asyncio.gather(
                    *(declare(nc.jetstream(), subjects, StreamLimits()) for nc in connections)
                )
                info = await js.stream_info(subjects.events_stream)
                assert info.config.subjects == [subjects.events(">")]
            finally:
                for stream in await js.streams_info():
                    if stream.config.name.startswith(f"{subjects.prefix.upper()}_"):
                        await js.delete_stream(stream.config.name)
    finally:
        for nc in connections:
            await nc.close()
