"""Keyed publications group-committed, yet each key stored once (infra/publish_keys.py).

Two ChannelLogs stand for two hubs publishing to one channel.
"""

from __future__ import annotations

import asyncio

import orjson

from bilten.infra.channel_log import ChannelLog
from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare


async def _all(log: ChannelLog, channel: str) -> list[bytes]:
    top = await log.position(channel)
    assert top is not None
    stored = await log.read_after(channel, "", 0, top)
    assert stored is not None
    return [s.data for s in stored]


async def test_keyed_publications_share_messages_and_repeats_answer_the_first(
    settings: Settings,
) -> None:
    async with open_deps(settings, "a") as a, open_deps(settings, "b") as b:
        await declare(a.js, a.subjects, StreamLimits())
        channel = "event.3.announcements"
        first = await asyncio.gather(
            *(a.channels.publish(channel, orjson.dumps(n), msg_id=f"k{n}") for n in range(300))
        )
        assert sorted(p.offset for p in first) == list(range(1, 301))
        info = await a.js.stream_info(a.subjects.history_stream)
        assert info.state.messages < 300  # batched, keys and all
        # Every key again, half through the other "hub", concurrently with new ones.
        repeats = await asyncio.gather(
            *(
                (a if n % 2 else b).channels.publish(channel, orjson.dumps(n), msg_id=f"k{n}")
                for n in range(300)
            ),
            *(
                b.channels.publish(channel, orjson.dumps(n), msg_id=f"k{n}")
                for n in range(300, 350)
            ),
        )
        assert [p.offset for p in repeats[:300]] == [p.offset for p in first]
        assert sorted(p.offset for p in repeats[300:]) == list(range(301, 351))
        stored = [orjson.loads(d) for d in await _all(a.channels, channel)]
        assert sorted(stored) == list(range(350))  # each once


async def test_a_claimed_key_never_stored_is_stored_once_by_its_repeat(settings: Settings) -> None:
    """The first attempt claimed its key and died before storing: the repeat stores it."""
    async with open_deps(settings, "a") as a, open_deps(settings, "b") as b:
        await declare(a.js, a.subjects, StreamLimits())
        channel = "event.4.announcements"
        await a.channels.publish(channel, b"0")
        assert await a.channels._keys.claim("lost") is not None
        again = await b.channels.publish(channel, b"1", msg_id="lost")
        assert again.offset == 2
        assert await b.channels.publish(channel, b"1", msg_id="lost") == again
        assert await _all(a.channels, channel) == [b"0", b"1"]


async def test_a_late_first_attempt_yields_to_the_repeat_that_took_its_key_over(
    settings: Settings,
) -> None:
    """A hub claims a key, a repeat elsewhere stores it meanwhile; the first hub's
    batch then must not store it again, and answers the repeat's offset."""
    async with open_deps(settings, "a") as a, open_deps(settings, "b") as b:
        await declare(a.js, a.subjects, StreamLimits())
        channel = "event.5.announcements"
        await a.channels.publish(channel, b"0")  # hub a knows the channel's position
        real_claim = a.channels._keys.claim
        claimed = asyncio.Event()
        go_on = asyncio.Event()

        async def slow_claim(key: str):  # type: ignore[no-untyped-def]
            claim = await real_claim(key)
            claimed.set()
            await go_on.wait()
            return claim

        a.channels._keys.claim = slow_claim  # type: ignore[method-assign]
        late = asyncio.create_task(a.channels.publish(channel, b"1", msg_id="raced"))
        await claimed.wait()
        repeat = await b.channels.publish(channel, b"1", msg_id="raced")
        go_on.set()
        a.channels._keys.claim = real_claim  # type: ignore[method-assign]
        together = await asyncio.gather(
            late, *(a.channels.publish(channel, b"2") for _ in range(3))
        )
        assert together[0] == repeat
        assert await _all(a.channels, channel) == [b"0", b"1", b"2", b"2", b"2"]
