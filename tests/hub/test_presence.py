"""Presence counts across two hubs, and after a hub dies without saying goodbye."""

from __future__ import annotations

import signal
import time
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bilten.hub.app import create_app
from bilten.hub.presence import MEMBERS_PER_COMMAND, Presence
from bilten.hub.runtime import HUB
from bilten.infra.keys import RedisKeys
from bilten.infra.settings import Settings
from tests.hub.helpers import Raw, connect, create_event
from tests.ready import free_port, hub_answers, spawn_hub
from tests.waiting import WAIT_S, wait_for


async def _online(raw: Any, event_id: int) -> dict[str, int]:
    reply = await raw.call("presence.get", {"event_id": event_id})
    assert reply["op"] == "result", reply
    return dict(reply["result"]["online"])


async def _attendees_become(raw: Any, event_id: int, expected: int) -> None:
    """Presence is written in batches: wait until the count is `expected`."""

    async def counted() -> bool:
        return (await _online(raw, event_id))["attendee"] == expected

    await wait_for(counted, what=f"{expected} attendees online")


async def _score(settings: Settings, event_id: int, member: str) -> float | None:
    """The time a presence member (`role|user|hub`, hub/presence.py) was last confirmed."""
    client = aioredis.from_url(settings.redis_url or "")
    try:
        score = await client.zscore(RedisKeys(settings.namespace).presence(event_id), member)
        return None if score is None else float(score)
    finally:
        await client.aclose()


async def test_presence_across_two_hubs(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    hub_a = await aiohttp_client(await aiohttp_server(create_app(workers)))
    hub_b = await aiohttp_client(await aiohttp_server(create_app(workers)))
    organizer = await connect(hub_a, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    people = []
    for n, hub in enumerate((hub_a, hub_b, hub_a, hub_b)):
        raw = await connect(hub, make_token("attendee", events=[event_id], sub=f"guest-{n}"))
        assert (await raw.subscribe(channel))["op"] == "subscribed"
        people.append(raw)
    # The same person on both hubs counts once.
    twice = await connect(hub_b, make_token("attendee", events=[event_id], sub="guest-0"))
    await twice.subscribe(channel)
    await _attendees_become(organizer, event_id, 4)
    await people[1].ws.close()
    await _attendees_become(organizer, event_id, 3)
    await twice.ws.close()
    on_b = f"attendee|guest-0|{hub_b.server.app[HUB].presence.hub_id}"

    async def left_b() -> bool:
        return await _score(workers, event_id, on_b) is None

    await wait_for(left_b, what="hub B to write that guest-0 left it")
    assert (await _online(organizer, event_id))["attendee"] == 3  # guest-0 still on hub A


async def test_a_killed_hubs_users_expire(
    workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    """SIGKILL a hub process: nobody cleans up, yet its users age out of the counts."""
    port = free_port()
    hub = spawn_hub(workers.replace(port=port))
    redis_client = aioredis.from_url(workers.redis_url or "")
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            await hub_answers(hub, f"{base}/readyz")
            organizer = Raw(await http.ws_connect(f"{base}/ws?token={make_token('organizer')}"))
            event_id = await create_event(organizer)
            token = make_token("attendee", events=[event_id], sub="ghost")
            ghost = Raw(await http.ws_connect(f"{base}/ws?token={token}"))
            await ghost.subscribe(f"event.{event_id}.announcements")
            keys = RedisKeys(workers.namespace)
            patient = Presence(redis_client, keys)  # the production window: 45 s
            quick = Presence(redis_client, keys, stale_s=1.0)

            async def counted() -> bool:
                return (await patient.counts(event_id))["attendee"] == 1

            await wait_for(counted, what="the ghost counted online")
            hub.send_signal(signal.SIGKILL)
            hub.wait(WAIT_S)
            # Age the ghost past the quick window: nobody confirms it any more.
            [(_, confirmed)] = await redis_client.zrange(
                keys.presence(event_id), 0, -1, withscores=True
            )

            async def stale() -> bool:
                return time.time() > confirmed + quick.stale_s

            await wait_for(stale, what="the ghost's entry to be older than 1 s")
            # Still there for a patient observer (no goodbye was said)...
            assert (await patient.counts(event_id))["attendee"] == 1
            # ...and gone once older than the staleness window.
            assert (await quick.counts(event_id))["attendee"] == 0
            for raw in (organizer, ghost):
                await raw.ws.close()  # the hub is gone: this just releases the connection
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
        await redis_client.aclose()


async def test_a_burst_is_written_in_chunked_batches(settings: Settings) -> None:
    """More joins than one command holds, on two events: every member written, then removed."""
    client = aioredis.from_url(settings.redis_url or "")
    keys = RedisKeys(settings.namespace)
    presence = Presence(client, keys)
    many = MEMBERS_PER_COMMAND * 2 + 7
    try:
        for n in range(many):
            presence.join(1, "attendee", f"u{n}")
        presence.join(2, "staff", "door-1")
        presence.join(2, "staff", "door-1")  # a second connection of the same person
        await presence.flush()
        assert await client.zcard(keys.presence(1)) == many
        assert (await presence.counts(2))["staff"] == 1
        for n in range(0, many, 2):
            presence.leave(1, "attendee", f"u{n}")
        presence.leave(2, "staff", "door-1")
        await presence.flush()
        assert await client.zcard(keys.presence(1)) == many // 2
        assert (await presence.counts(2))["staff"] == 1  # one connection left
        presence.leave(2, "staff", "door-1")
        await presence.flush()
        assert await client.zcard(keys.presence(2)) == 0
    finally:
        await client.delete(keys.presence(1), keys.presence(2))
        await client.aclose()
