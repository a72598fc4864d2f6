"""reactions.send: exact counts per 250 ms window across hubs and workers; limits; refusals."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.qa import REACTION_LIMIT, REACTIONS
from bilten.workers.main import run_workers
from tests.allocation.helpers import Crowd
from tests.hub.helpers import Raw, connect, create_event
from tests.qa.conftest import Room, error, make_session, ok
from tests.ready import workers_answer
from tests.waiting import allowance, arrives, wait_for

SENDERS = 40
EACH = 5  # reactions per sender, one after another; senders at once


class Tally:
    """Subscribes to the event's reactions channel and counts (session, window, emoji)."""

    def __init__(self, raw: Raw, event_id: int) -> None:
        self.raw = raw
        self.channel = f"event.{event_id}.reactions"
        self.counts: Counter[tuple[int, int, str]] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        reply = await self.raw.subscribe(self.channel)
        assert reply["op"] == "subscribed" and reply["snapshot"] is None, reply
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.raw.recv(timeout=3600)
            if message["op"] == "pub" and message["channel"] == self.channel:
                data = message["data"]
                assert data["window_ms"] == 250
                for emoji, n in data["counts"].items():
                    self.counts[(data["session_id"], data["window"], emoji)] += n

    def total(self, session_id: int) -> int:
        return sum(n for (s, _, _), n in self.counts.items() if s == session_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@pytest.mark.timeout(3 * allowance(SENDERS * EACH))
async def test_counts_are_exact_with_two_hubs_and_two_workers(
    workers: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    stop = asyncio.Event()
    extra = asyncio.get_running_loop().create_task(run_workers(workers, ["qa"], stop))
    crowd = Crowd(patience=allowance(SENDERS * EACH))
    tally: Tally | None = None
    try:
        await workers_answer(workers, ["qa"], running=extra)
        hubs = [await aiohttp_server(create_app(workers)) for _ in range(2)]
        organizer = await crowd.connect(hubs[0], make_token("organizer"))
        event_id = await create_event(organizer)
        session_id = await make_session(organizer, event_id)
        other_session = await make_session(organizer, event_id, "Workshop")
        tally = Tally(await crowd.connect(hubs[1], make_token("organizer")), event_id)
        await tally.start()
        senders = [
            await crowd.connect(
                hubs[n % 2], make_token("attendee", sub=f"fan-{n}", events=[event_id])
            )
            for n in range(SENDERS)
        ]
        sent: Counter[tuple[int, int, str]] = Counter()

        async def react(n: int) -> None:
            for k in range(EACH):
                emoji = REACTIONS[(n + k) % len(REACTIONS)]
                params = {"event_id": event_id, "session_id": session_id, "emoji": emoji}
                answer = ok(await senders[n].call("reactions.send", params))
                sent[(session_id, answer["window"], emoji)] += 1

        await arrives(
            asyncio.gather(*(react(n) for n in range(SENDERS))),
            what="every reaction answered",
            timeout=allowance(SENDERS * EACH),
        )
        assert sum(sent.values()) == SENDERS * EACH
        await wait_for(lambda: tally.total(session_id) >= SENDERS * EACH, what="every reaction")
        # Exact per window and emoji: each window published once, with what it counted.
        assert {k: v for k, v in tally.counts.items() if k[0] == session_id} == sent
        # Another session's reactions are counted apart.
        marker = {"event_id": event_id, "session_id": other_session, "emoji": "🎉"}
        ok(await senders[0].call("reactions.send", marker))
        await wait_for(lambda: tally.total(other_session) == 1, what="the other session's")
        assert tally.total(session_id) == SENDERS * EACH
    finally:
        if tally is not None:
            await tally.close()
        await crowd.close()
        stop.set()
        await arrives(extra, what="the extra qa worker to stop")


async def test_rate_limited_per_attendee(room: Room) -> None:
    alice, bob = await room.attendee("alice"), await room.attendee("bob")
    params = {"event_id": room.event_id, "session_id": room.session_id, "emoji": "👏"}
    for _ in range(REACTION_LIMIT.count):
        ok(await alice.call("reactions.send", params))
    refused = error(await alice.call("reactions.send", params))
    assert refused["code"] == "rate_limited"
    assert 1 <= refused["details"]["retry_after"] <= REACTION_LIMIT.per_s
    ok(await bob.call("reactions.send", params))


async def test_refusals(room: Room, workers: Settings) -> None:
    alice = await room.attendee("alice")
    params = {"event_id": room.event_id, "session_id": room.session_id}
    for bad in ("💩", "like", "👍👍"):
        refused = error(await alice.call("reactions.send", {**params, "emoji": bad}))
        assert (refused["code"], refused["details"]["field"]) == ("bad_reaction", "emoji")
    assert error(await alice.call("reactions.send", params))["code"] == "bad_request"
    elsewhere = await make_session(room.organizer, await create_event(room.organizer, name="Other"))
    foreign = {"event_id": room.event_id, "session_id": elsewhere, "emoji": "👍"}
    assert error(await alice.call("reactions.send", foreign))["code"] == "not_found"
    token = room.make_token("staff", sub="door", events=[room.event_id])
    door = await connect(room.client, token)
    room.sockets.append(door)
    assert error(await door.call("reactions.send", {**params, "emoji": "👍"}))["code"] == (
        "forbidden"
    )
