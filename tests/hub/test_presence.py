"""Presence counts across two hubs, and after a hub dies without saying goodbye."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bilten.core.settings import Settings
from bilten.hub.app import create_app
from bilten.hub.presence import Presence
from bilten.hub.runtime import HUB
from tests.hub.helpers import connect, create_event


async def _online(raw: Any, event_id: int) -> dict[str, int]:
    reply = await raw.call("presence.get", {"event_id": event_id})
    assert reply["op"] == "result", reply
    return dict(reply["result"]["online"])


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
    assert (await _online(organizer, event_id))["attendee"] == 4
    await people[1].ws.close()
    await asyncio.sleep(0.1)
    assert (await _online(organizer, event_id))["attendee"] == 3
    await twice.ws.close()
    await asyncio.sleep(0.1)
    assert (await _online(organizer, event_id))["attendee"] == 3  # guest-0 still on hub A


async def test_a_dead_hubs_users_expire(workers: Settings, aiohttp_server: Any,
                                        aiohttp_client: Any, make_token: Any) -> None:
    app = create_app(workers)
    server = await aiohttp_server(app)
    hub = await aiohttp_client(server)
    organizer = await connect(hub, make_token("organizer"))
    event_id = await create_event(organizer)
    raw = await connect(hub, make_token("attendee", events=[event_id], sub="ghost"))
    await raw.subscribe(f"event.{event_id}.announcements")
    assert (await _online(organizer, event_id))["attendee"] == 1
    # Another hub's view, with a short staleness window: once this hub stops
    # heartbeating (a crash), its members age out without any cleanup call.
    observer = Presence(app[HUB].deps.redis, app[HUB].deps.keys, stale_s=1.0)
    assert (await observer.counts(event_id))["attendee"] == 1
    app[HUB].stop.set()  # the heartbeat stops, as if the process died
    await asyncio.sleep(1.5)
    assert (await observer.counts(event_id))["attendee"] == 0
    assert time.time() > 0
