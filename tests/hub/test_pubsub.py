"""Subscribe, publish and receive through a real hub, NATS and JetStream."""

from __future__ import annotations

from typing import Any

from tests.hub.helpers import connect, create_event
from tests.waiting import wait_for


async def test_subscribe_publish_receive_in_order(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
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


async def test_one_nats_subscription_per_channel(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    from bilten.hub.runtime import HUB

    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    fanout = hub_server.app[HUB].fanout
    token = make_token("attendee", events=[event_id])
    sockets = [await connect(client, token) for _ in range(20)]
    for raw in sockets:
        assert (await raw.subscribe(channel))["op"] == "subscribed"
    assert fanout.channels == 1
    await organizer.call("channels.publish", {"channel": channel, "data": {"n": 1}})
    for raw in sockets:
        assert (await raw.until("pub"))["data"] == {"n": 1}
    for raw in sockets[:10]:
        await raw.send(op="unsubscribe", channel=channel)
        assert (await raw.until("unsubscribed"))["channel"] == channel
    assert fanout.channels == 1
    for raw in sockets[10:]:
        await raw.ws.close()
    await wait_for(lambda: fanout.channels == 0, what="the channel's last listener to go")


async def test_subscribe_then_unsubscribe_in_one_frame_run_in_order(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    import orjson

    from bilten.hub.runtime import HUB

    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    await organizer.ws.send_bytes(
        orjson.dumps(
            [
                {"op": "subscribe", "id": 10, "channel": channel},
                {"op": "unsubscribe", "id": 11, "channel": channel},
                {"op": "subscribe", "id": 12, "channel": channel},
            ]
        )
    )
    replies = [await organizer.recv() for _ in range(3)]
    assert [(r["op"], r["id"]) for r in replies] == [
        ("subscribed", 10),
        ("unsubscribed", 11),
        ("subscribed", 12),
    ]
    assert hub_server.app[HUB].fanout.channels == 1


async def test_joining_a_live_channel_is_answered_at_once_and_in_order(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """A channel this hub already follows: `subscribed` comes in the same pass (no task),
    with the channel's position, and ops in one frame still run in the order sent."""
    import orjson

    from bilten.hub.runtime import HUB

    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    first = await connect(client, make_token("attendee", events=[event_id], sub="ana"))
    assert (await first.subscribe(channel))["op"] == "subscribed"
    for n in range(1, 4):
        await organizer.call("channels.publish", {"channel": channel, "data": {"n": n}})
    # Once `first` has publication 3, the hub's feed knows the channel stands at 3.
    assert [(await first.until("pub"))["offset"] for _ in range(3)] == [1, 2, 3]

    late = await connect(client, make_token("attendee", events=[event_id], sub="bo"))
    await late.ws.send_bytes(
        orjson.dumps(
            [
                {"op": "subscribe", "id": 1, "channel": channel},
                {"op": "unsubscribe", "id": 2, "channel": channel},
                {"op": "subscribe", "id": 3, "channel": channel},
            ]
        )
    )
    replies = [await late.recv() for _ in range(3)]
    assert [(r["op"], r["id"], r.get("offset")) for r in replies] == [
        ("subscribed", 1, 3),
        ("unsubscribed", 2, None),
        ("subscribed", 3, 3),
    ]
    await organizer.call("channels.publish", {"channel": channel, "data": {"n": 4}})
    got = await late.until("pub")
    assert (got["offset"], got["data"]) == (4, {"n": 4})
    sessions = [c for c in hub_server.app[HUB].connections if c.claims.sub == "bo"]
    assert len(sessions) == 1 and list(sessions[0].subs) == [channel]
