"""History and recovery across two hubs with a publisher on each."""

from __future__ import annotations

import asyncio
from typing import Any

import nats

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.subjects import Subjects
from tests.hub.helpers import Raw, connect, create_event


async def _publish(raw: Raw, channel: str, n: int) -> dict[str, Any]:
    reply = await raw.call("channels.publish", {"channel": channel, "data": {"n": n}})
    assert reply["op"] == "result", reply
    return dict(reply["result"])


async def _two_hubs(workers: Settings, aiohttp_server: Any, aiohttp_client: Any) -> list[Any]:
    return [await aiohttp_client(await aiohttp_server(create_app(workers))) for _ in range(2)]


async def test_resubscribe_since_gets_exactly_what_was_missed_across_hubs(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    hub_a, hub_b = await _two_hubs(workers, aiohttp_server, aiohttp_client)
    # One publisher per hub; a raw socket serves one request at a time, so each
    # publisher is its own connection.
    pubs_a = [await connect(hub_a, make_token("organizer", sub=f"a{n}")) for n in range(3)]
    pubs_b = [await connect(hub_b, make_token("organizer", sub=f"b{n}")) for n in range(3)]
    event_id = await create_event(pubs_a[0])
    channel = f"event.{event_id}.announcements"
    token = make_token("attendee", events=[event_id], sub="amra")

    listener = await connect(hub_a, token)
    subscribed = await listener.subscribe(channel)
    assert (subscribed["offset"], subscribed["epoch"], subscribed["recovered"]) == (0, "", False)

    async def burst(numbers: range) -> None:
        publishers = pubs_a + pubs_b

        async def run(publisher: Raw, mine: list[int]) -> None:
            for n in mine:
                await _publish(publisher, channel, n)

        await asyncio.gather(
            *(run(p, list(numbers)[i :: len(publishers)]) for i, p in enumerate(publishers))
        )

    # Six publishers on two hubs at once: offsets stay unique and gap-free.
    await burst(range(1, 31))
    seen = [await listener.until("pub") for _ in range(30)]
    assert [m["offset"] for m in seen] == list(range(1, 31))
    assert sorted(m["data"]["n"] for m in seen) == list(range(1, 31))
    epoch = seen[-1]["epoch"]
    assert epoch and {m["epoch"] for m in seen} == {epoch}

    # Kill the client's connection mid-stream; publish through both hubs meanwhile.
    listener.ws._response.connection.transport.abort()  # type: ignore[union-attr]
    await burst(range(100, 130))

    # Reconnect to the other hub with since: every missed one, once, in order.
    again = await connect(hub_b, token)
    reply = await again.subscribe(channel, since={"offset": 30, "epoch": epoch})
    assert reply["op"] == "subscribed" and reply["recovered"] is True, reply
    assert reply["offset"] == 60 and reply["snapshot"] is None
    missed = [await again.until("pub") for _ in range(30)]
    assert [m["offset"] for m in missed] == list(range(31, 61))
    assert sorted(m["data"]["n"] for m in missed) == list(range(100, 130))
    # Live publications follow without a gap or a duplicate.
    await _publish(pubs_b[0], channel, 999)
    live = await again.until("pub")
    assert (live["offset"], live["data"]) == (61, {"n": 999})
    # No duplicate in between: the channel is ordered, so the next one is the next offset.
    await _publish(pubs_a[0], channel, 1000)
    after = await again.recv()
    assert (after["op"], after["offset"], after["data"]) == ("pub", 62, {"n": 1000}), after


async def test_recovery_from_an_empty_channel(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    hub_a, hub_b = await _two_hubs(workers, aiohttp_server, aiohttp_client)
    organizer = await connect(hub_a, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    token = make_token("attendee", events=[event_id])
    first = await connect(hub_b, token)
    assert (await first.subscribe(channel))["epoch"] == ""
    await first.ws.close()
    for n in range(1, 4):
        await _publish(organizer, channel, n)
    again = await connect(hub_b, token)
    reply = await again.subscribe(channel, since={"offset": 0, "epoch": ""})
    assert reply["recovered"] is True and reply["offset"] == 3
    assert [(await again.until("pub"))["data"]["n"] for _ in range(3)] == [1, 2, 3]


async def test_lost_history_changes_the_epoch(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    (hub,) = [await aiohttp_client(await aiohttp_server(create_app(workers)))]
    organizer = await connect(hub, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    for n in range(1, 6):
        old = await _publish(organizer, channel, n)
    # History is lost: every stored message of the channel disappears.
    assert workers.nats_url
    nc = await nats.connect(workers.nats_url)
    try:
        subjects = Subjects(workers.namespace)
        await nc.jetstream().purge_stream(
            subjects.history_stream, subject=subjects.publish(channel)
        )
    finally:
        await nc.close()
    new = await _publish(organizer, channel, 6)
    assert new["offset"] == 1 and new["epoch"] != old["epoch"]
    raw = await connect(hub, make_token("attendee", events=[event_id]))
    reply = await raw.subscribe(channel, since={"offset": 5, "epoch": old["epoch"]})
    assert reply["recovered"] is False
    assert (reply["offset"], reply["epoch"]) == (1, new["epoch"])


async def test_too_old_offset_is_not_recovered(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    small = workers.replace(history_size=5)
    hub = await aiohttp_client(await aiohttp_server(create_app(small)))
    organizer = await connect(hub, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    for n in range(1, 13):
        last = await _publish(organizer, channel, n)
    raw = await connect(hub, make_token("attendee", events=[event_id]))
    reply = await raw.subscribe(channel, since={"offset": 2, "epoch": last["epoch"]})
    assert reply["recovered"] is False and reply["offset"] == 12
    ok = await connect(hub, make_token("attendee", events=[event_id], sub="b"))
    reply = await ok.subscribe(channel, since={"offset": 8, "epoch": last["epoch"]})
    assert reply["recovered"] is True
    assert [(await ok.until("pub"))["offset"] for _ in range(4)] == [9, 10, 11, 12]
