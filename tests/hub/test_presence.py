"""Presence counts across two hubs, and after a hub dies without saying goodbye."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bilten.hub.app import create_app
from bilten.hub.presence import Presence
from bilten.infra.keys import RedisKeys
from bilten.infra.settings import Settings, settings_env
from tests.hub.helpers import Raw, connect, create_event


async def _online(raw: Any, event_id: int) -> dict[str, int]:
    reply = await raw.call("presence.get", {"event_id": event_id})
    assert reply["op"] == "result", reply
    return dict(reply["result"]["online"])


async def _attendees_become(raw: Any, event_id: int, expected: int) -> None:
    """Presence is written in batches (every 50 ms): wait for it, bounded."""
    for _ in range(40):
        if (await _online(raw, event_id))["attendee"] == expected:
            return
        await asyncio.sleep(0.05)
    assert (await _online(raw, event_id))["attendee"] == expected


async def test_presence_across_two_hubs(workers: Settings, aiohttp_server: Any,
                                        aiohttp_client: Any, make_token: Any) -> None:
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
    await asyncio.sleep(0.3)
    assert (await _online(organizer, event_id))["attendee"] == 3  # guest-0 still on hub A


async def test_a_killed_hubs_users_expire(workers: Settings, aiohttp_client: Any,
                                          make_token: Any) -> None:
    """SIGKILL a hub process: nobody cleans up, yet its users age out of the counts."""
    port = _free_port()
    env = {**os.environ, **settings_env(workers.replace(port=port))}
    hub = subprocess.Popen([sys.executable, "-m", "bilten.deploy.cli", "hub"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis_client = aioredis.from_url(workers.redis_url or "")
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            organizer = Raw(await http.ws_connect(f"{base}/ws?token={make_token('organizer')}"))
            event_id = await create_event(organizer)
            token = make_token("attendee", events=[event_id], sub="ghost")
            ghost = Raw(await http.ws_connect(f"{base}/ws?token={token}"))
            await ghost.subscribe(f"event.{event_id}.announcements")
            keys = RedisKeys(workers.namespace)
            patient = Presence(redis_client, keys)  # the production window: 45 s
            quick = Presence(redis_client, keys, stale_s=1.0)
            for _ in range(50):
                if (await patient.counts(event_id))["attendee"] == 1:
                    break
                await asyncio.sleep(0.1)
            assert (await patient.counts(event_id))["attendee"] == 1
            hub.send_signal(signal.SIGKILL)
            hub.wait(5)
            await asyncio.sleep(1.5)
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
