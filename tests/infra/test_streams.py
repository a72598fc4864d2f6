"""JetStream declarations on a real server: twice is fine, changes are applied."""

from __future__ import annotations

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
