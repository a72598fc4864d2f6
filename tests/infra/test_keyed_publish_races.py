"""Keyed publications under hostile interleavings: each key stored once, every answer agreeing.

Each ChannelLog stands for one hub; they share the real JetStream. Pauses are
made by wrapping one log's steps and waiting on events, never by sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
import pytest

from bilten.infra.channel_history import Position
from bilten.infra.channel_log import ChannelLog
from bilten.infra.deps import Deps, open_deps
from bilten.infra.publish_keys import Marker
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.protocol.errors import Conflict, Unavailable
from tests.waiting import WAIT_S, allowance


@asynccontextmanager
async def _hubs(settings: Settings, n: int, limits: StreamLimits) -> AsyncIterator[list[Deps]]:
    async with AsyncExitStack() as stack:
        hubs = [await stack.enter_async_context(open_deps(settings, f"h{i}")) for i in range(n)]
        await declare(hubs[0].js, hubs[0].subjects, limits)
        yield hubs


async def _history(log: ChannelLog, channel: str) -> list[tuple[int, Any]]:
    """Every publication of the channel as (offset, value), checking offsets are consecutive."""
    top = await log.position(channel)
    assert top is not None
    stored = await log.read_after(channel, "", 0, top)
    assert stored is not None
    assert [s.offset for s in stored] == list(range(1, top.offset + 1))
    return [(s.offset, orjson.loads(s.data)) for s in stored]


def _pause(log: ChannelLog, name: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Make `log`'s next call of `name` stop before running until released."""
    real = getattr(log, name)
    reached, release = asyncio.Event(), asyncio.Event()

    async def paused(*args: Any, **kwargs: Any) -> Any:
        setattr(log, name, real)
        reached.set()
        await release.wait()
        return await real(*args, **kwargs)

    setattr(log, name, paused)
    return reached, release


async def test_concurrent_repeats_on_three_hubs_amid_other_publications(settings: Settings) -> None:
    """Every key sent six times at once through three hubs, some keys claimed by a hub
    that died before storing, while unkeyed publications flow: each stored once."""
    async with _hubs(settings, 3, StreamLimits()) as hubs:
        logs = [h.channels for h in hubs]
        channel = "event.6.announcements"
        dead = [f"dead{n}" for n in range(10)]
        for key in dead:  # claimed, never stored: the repeats must take them over
            assert await logs[0]._keys.claim(key) is not None
        keys = dead + [f"live{n}" for n in range(20)]
        attempts = [(key, logs[n % 3]) for n, key in enumerate(keys * 6)]
        answers = await asyncio.wait_for(
            asyncio.gather(
                *(log.publish(channel, orjson.dumps(key), msg_id=key) for key, log in attempts),
                *(logs[n % 3].publish(channel, orjson.dumps(n)) for n in range(60)),
            ),
            allowance(len(attempts) + 60),
        )
        by_key: dict[str, set[Position]] = {}
        for (key, _log), answer in zip(attempts, answers, strict=False):
            by_key.setdefault(key, set()).add(answer)
        assert all(len(positions) == 1 for positions in by_key.values()), by_key
        history = await _history(logs[1], channel)
        assert Counter(value for _offset, value in history) == Counter(keys + list(range(60)))
        for key, (position,) in by_key.items():
            assert (position.offset, key) in history


async def test_a_batch_paused_after_its_check_loses_to_a_repeat_that_stores_first(
    settings: Settings,
) -> None:
    """Hub 0 checked its claim and is about to store; repeats on hubs 1 and 2 take the
    key over and store it; hub 0's batch then goes on and must not store it again."""
    async with _hubs(settings, 3, StreamLimits()) as hubs:
        logs = [h.channels for h in hubs]
        channel = "event.7.announcements"
        await logs[0].publish(channel, b"0")
        reached, release = _pause(logs[0], "_attempt")
        first = asyncio.create_task(logs[0].publish(channel, b'"k"', msg_id="k"))
        await asyncio.wait_for(reached.wait(), WAIT_S)
        repeats = await asyncio.wait_for(
            asyncio.gather(*(log.publish(channel, b'"k"', msg_id="k") for log in logs[1:] * 3)),
            WAIT_S,
        )
        release.set()
        late = await asyncio.wait_for(first, WAIT_S)
        assert {late, *repeats} == {late}
        assert await _history(logs[2], channel) == [(1, 0), (2, "k")]


async def test_a_repeat_paused_after_its_take_over_finds_the_first_attempt_stored(
    settings: Settings,
) -> None:
    """Hub 1 took the key over and is about to store; hub 0's batch, checked before the
    take-over, stores first; hub 1 must then answer hub 0's offset, not store it again."""
    async with _hubs(settings, 2, StreamLimits()) as hubs:
        a, b = hubs[0].channels, hubs[1].channels
        channel = "event.8.announcements"
        await a.publish(channel, b"0")
        a_reached, a_release = _pause(a, "_attempt")
        first = asyncio.create_task(a.publish(channel, b'"k"', msg_id="k"))
        await asyncio.wait_for(a_reached.wait(), WAIT_S)
        b_reached, b_release = _pause(b, "_attempt")
        repeat = asyncio.create_task(b.publish(channel, b'"k"', msg_id="k"))
        await asyncio.wait_for(b_reached.wait(), WAIT_S)
        a_release.set()
        stored = await asyncio.wait_for(first, WAIT_S)
        b_release.set()
        assert await asyncio.wait_for(repeat, WAIT_S) == stored
        assert await _history(a, channel) == [(1, 0), (2, "k")]


async def test_a_repeat_after_newer_publications_pushed_the_first_out_of_history(
    settings: Settings,
) -> None:
    """The channel keeps 3 messages; the key's message fell out of it before its repeat
    came, well within the duplicate window: the repeat must not store it a second time."""
    async with _hubs(settings, 2, StreamLimits(history_size=3)) as hubs:
        a, b = hubs[0].channels, hubs[1].channels
        channel = "event.9.announcements"
        await a.publish(channel, b"0")
        await a.publish(channel, b'"k"', msg_id="k")
        for n in range(1, 5):
            await a.publish(channel, orjson.dumps(n))
        with pytest.raises(Conflict, match="may be stored already") as refused:
            await asyncio.wait_for(b.publish(channel, b'"k"', msg_id="k"), WAIT_S)
        assert refused.value.details == {"reason": "beyond_history"}
        top = await a.position(channel)
        assert top is not None and top.offset == 6  # not stored again
        # A key claimed (as if a minute later) and never stored: its repeat stores it,
        # history since the claim being whole though the channel is past its limit.
        assert await b._keys.claim("lost") is not None
        marker = await b._keys.read("lost")
        assert marker is not None and marker.since is not None
        later = Marker(marker.tags, marker.since + timedelta(minutes=1), marker.seq)
        assert await b._keys.take_over("lost", later) is not None
        assert (await b.publish(channel, b'"lost"', msg_id="lost")).offset == 7


async def test_one_key_on_many_channels_and_a_position_cache_that_forgets(
    settings: Settings,
) -> None:
    """The same outbox-style key published to different channels through hubs whose
    position caches forget everything between publications."""
    async with _hubs(settings, 2, StreamLimits()) as hubs:
        a, b = hubs[0].channels, hubs[1].channels
        channels = [f"event.{n}.announcements" for n in range(10, 13)]
        answers: dict[str, Position] = {}
        for channel, log in zip(channels, itertools.cycle((a, b)), strict=False):
            answers[channel] = await log.publish(channel, b'"x"', msg_id=f"x:{channel}")
            a._positions.clear()
            b._positions.clear()
        for channel in channels:
            again = await asyncio.gather(
                a.publish(channel, b'"x"', msg_id=f"x:{channel}"),
                b.publish(channel, b'"x"', msg_id=f"x:{channel}"),
                a.publish(channel, b'"y"'),
            )
            assert again[:2] == [answers[channel], answers[channel]]
            assert sorted(v for _o, v in await _history(b, channel)) == ["x", "y"]


async def test_a_repeat_is_not_starved_by_a_steady_flow_through_its_hub(settings: Settings) -> None:
    """Publications keep queueing on hub 0 for the channel; a repeat through hub 0 of a
    key whose first attempt died must still get its turn while they flow."""
    async with _hubs(settings, 1, StreamLimits()) as hubs:
        log = hubs[0].channels
        channel = "event.13.announcements"
        stop = asyncio.Event()

        sent: list[asyncio.Task[Position]] = []

        async def flow() -> None:  # arrivals independent of the answers, as from many clients
            while not stop.is_set():
                sent.append(asyncio.create_task(log.publish(channel, b"0")))
                await asyncio.sleep(0)

        flowing = [asyncio.create_task(flow())]
        try:
            await log.publish(channel, b"0")
            assert await log._keys.claim("lost") is not None
            stored = await asyncio.wait_for(log.publish(channel, b'"lost"', msg_id="lost"), WAIT_S)
        finally:
            stop.set()
            await asyncio.gather(*flowing)
            await asyncio.gather(*sent)
        assert (stored.offset, "lost") in await _history(log, channel)


def _shuffle(log: ChannelLog, rng: random.Random) -> None:
    """Delay each of `log`'s JetStream steps a little, and lose some store answers."""

    def delayed(owner: Any, name: str, lose: float = 0.0) -> None:
        real = getattr(owner, name)

        async def step(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(rng.random() * 0.004)
            result = await real(*args, **kwargs)
            if rng.random() < lose:  # stored, but the answer never came back
                log._positions.pop(args[0], None)
                raise Unavailable("history store did not acknowledge in time")
            return result

        setattr(owner, name, step)

    delayed(log, "_attempt", lose=0.15)
    delayed(log, "position")
    for name in ("claim", "read", "take_over"):
        delayed(log._keys, name)


@pytest.mark.parametrize("seed", range(3))
async def test_clients_retrying_lost_answers_across_shuffled_hubs(
    settings: Settings, seed: int
) -> None:
    """Three hubs whose steps are delayed at random and whose store answers are sometimes
    lost; three clients send each key at once and retry it on any hub until answered:
    each key is stored once, every answer for it names the same offset, offsets stay
    consecutive."""
    rng = random.Random(seed)
    async with _hubs(settings, 3, StreamLimits()) as hubs:
        logs = [h.channels for h in hubs]
        for log in logs:
            _shuffle(log, rng)
        channel = f"event.{20 + seed}.announcements"

        async def client(value: Any, key: str | None) -> list[Position]:
            answers: list[Position] = []
            while len(answers) < 2:  # answered, then once more as a late duplicate
                try:
                    answers.append(
                        await rng.choice(logs).publish(channel, orjson.dumps(value), msg_id=key)
                    )
                except Unavailable:
                    if key is None:
                        return answers
            return answers

        keys = [f"s{seed}k{n}" for n in range(40)]
        results = await asyncio.wait_for(
            asyncio.gather(
                *(client(k, k) for k in keys * 3),  # three clients send each key at once
                *(client(n, None) for n in range(20)),
            ),
            allowance(800),
        )
        answered: dict[str, set[Position]] = {}
        for key, answers in zip(keys * 3, results, strict=False):
            answered.setdefault(key, set()).update(answers)
        assert all(len(positions) == 1 for positions in answered.values()), answered
        history = await _history(logs[0], channel)
        counts = Counter(value for _o, value in history)
        assert all(counts[key] == 1 for key in keys), counts
        for key, (position,) in answered.items():
            assert (position.offset, key) in history


async def test_keyed_publications_keep_their_order_when_one_is_a_repeat_to_store(
    settings: Settings,
) -> None:
    """An outbox relay publishes rows 1, 2, 3; a crashed writer had claimed row 2 but
    never stored it: the relay's repeat stores it, and still between 1 and 3."""
    async with _hubs(settings, 1, StreamLimits()) as hubs:
        log = hubs[0].channels
        channel = "event.30.announcements"
        await log.publish(channel, b"0")
        assert await log._keys.claim("row2") is not None
        items = [(orjson.dumps(n), f"row{n}") for n in range(1, 6)]
        assert await log._keys.claim("row4") is not None
        answers = await asyncio.wait_for(log.publish_keyed(channel, items), WAIT_S)
        assert [p.offset for p in answers] == [2, 3, 4, 5, 6]
        assert [v for _o, v in await _history(log, channel)] == [0, 1, 2, 3, 4, 5]
        again = await asyncio.wait_for(log.publish_keyed(channel, items), WAIT_S)
        assert again == answers


async def test_a_repeat_whose_claim_was_purged_is_refused_not_stored_again(
    settings: Settings,
) -> None:
    """The keys stream lost the key's claim (purged) while JetStream still knows its id:
    the repeat can neither find nor claim it, and gives up with `conflict`."""
    async with _hubs(settings, 2, StreamLimits()) as hubs:
        a, b = hubs[0].channels, hubs[1].channels
        channel = "event.31.announcements"
        await a.publish(channel, b'"k"', msg_id="k")
        await hubs[0].js.purge_stream(hubs[0].subjects.keys_stream)
        with pytest.raises(Conflict):
            await asyncio.wait_for(b.publish(channel, b'"k"', msg_id="k"), WAIT_S)
        assert await _history(a, channel) == [(1, "k")]


async def test_hubs_contending_for_one_busy_channel_all_get_through(settings: Settings) -> None:
    """Three hubs with four publishers each keep one channel busy: every publication is
    stored, none refused as contended, though a hub keeps losing races to the others."""
    async with _hubs(settings, 3, StreamLimits()) as hubs:
        logs = [h.channels for h in hubs]
        channel = "event.32.announcements"

        async def publisher(log: ChannelLog, n: int) -> None:
            for m in range(600):
                await log.publish(channel, orjson.dumps([n, m]))

        await asyncio.wait_for(
            asyncio.gather(*(publisher(logs[n % 3], n) for n in range(12))), allowance(1200)
        )
        top = await logs[0].position(channel)
        assert top is not None and top.offset == 12 * 600
