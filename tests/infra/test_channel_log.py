"""Channel history on real JetStream: exact offsets, group commit, reading back."""

from __future__ import annotations

import asyncio

import orjson

from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare


async def test_concurrent_publications_get_consecutive_offsets_in_few_messages(
    settings: Settings,
) -> None:
    async with open_deps(settings, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        channel = "event.1.announcements"
        positions = await asyncio.gather(
            *(deps.channels.publish(channel, orjson.dumps({"n": n})) for n in range(200))
        )
        assert sorted(p.offset for p in positions) == list(range(1, 201))
        assert len({p.epoch for p in positions}) == 1
        info = await deps.js.stream_info(deps.subjects.history_stream)
        assert info.state.messages < 200  # group commit: several publications per message
        top = await deps.channels.position(channel)
        assert top is not None and top.offset == 200
        stored = await deps.channels.read_after(channel, top.epoch, 50, top)
        assert stored is not None
        assert [s.offset for s in stored] == list(range(51, 201))
        # Offset order is publish-call order: each publication's data matches its offset.
        by_offset = {p.offset: n for n, p in enumerate(positions)}
        assert all(orjson.loads(s.data) == {"n": by_offset[s.offset]} for s in stored)


async def test_a_message_id_is_stored_once(settings: Settings) -> None:
    async with open_deps(settings, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        channel = "event.2.checkins"
        first = await deps.channels.publish(channel, b'{"a":1}', msg_id="outbox:x:1")
        again = await deps.channels.publish(channel, b'{"a":1}', msg_id="outbox:x:1")
        assert first.offset == again.offset == 1
        nxt = await deps.channels.publish(channel, b'{"a":2}')
        assert nxt.offset == 2
