"""Subscribe, publish and receive through a real hub, NATS and JetStream."""

from __future__ import annotations

from typing import Any

from tests.hub.helpers import connect, create_event


async def test_subscribe_publish_receive_in_order(hub_server: Any, aiohttp_client: Any,
                                                  make_token: Any) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    attendee = await connect(client, make_token("attendee", events=[event_id], sub="ana"))
    channel = f"event.{event_id}.announcements"
    subscribed = await attendee.subscribe(channel)
    assert subscribed["op"] == "subscribed", subscribed
    assert subscribed["offset"] == 0 and subscribed["recovered"] is False
    for n in range(1, 6):
        reply = await organizer.call("channels.publish", {"channel": channel, "data": {"n": n}})
        assert reply["result"]["offset"] == n, reply
    got = [await attendee.until("pub") for _ in range(5)]
    assert [m["data"]["n"] for m in got] == [1, 2, 3, 4, 5]
    assert [m["offset"] for m in got] == [1, 2, 3, 4, 5]
    assert all(m["channel"] == channel for m in got)
