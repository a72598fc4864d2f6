"""Publications framed once per round and written as they are (hub/delivery.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bilten.hub import delivery
from bilten.hub.connection import Connection, Flusher, SubState
from bilten.hub.delivery import Delivery, runs_of
from bilten.protocol.tokens import Claims
from bilten.protocol.wsframe import frame_header
from tests.hub.helpers import Raw, connect, create_event
from tests.waiting import wait_for

A, B, C = b'{"n":1}', b'{"n":2}', b'{"n":3}'


@pytest.mark.parametrize(
    ("arrived", "runs"),
    [
        ([(1, "e1", [A])], [(1, 1, "e1", A)]),
        ([(1, "e1", [A]), (2, "e1", [B, C])], [(1, 3, "e1", b"[%b,%b,%b]" % (A, B, C))]),
        ([(1, "e1", [A]), (3, "e1", [C])], [(1, 1, "e1", A), (3, 3, "e1", C)]),  # a gap
        ([(5, "e1", [A]), (1, "e2", [B])], [(5, 5, "e1", A), (1, 1, "e2", B)]),  # a new epoch
        ([(2, "e1", [B]), (2, "e1", [B])], [(2, 2, "e1", B), (2, 2, "e1", B)]),  # a duplicate
    ],
)
def test_runs_merge_what_continues_and_frame_it_once(
    arrived: list[tuple[int, str, list[bytes]]], runs: list[tuple[int, int, str, bytes]]
) -> None:
    got = runs_of(arrived)
    assert [(r.first, r.last, r.epoch) for r in got] == [(f, la, e) for f, la, e, _ in runs]
    assert [r.frame for r in got] == [frame_header(len(p)) + p for *_, p in runs]


class Peer(asyncio.Protocol):
    """The client end of a socket pair: keeps every byte the hub side wrote."""

    def __init__(self) -> None:
        self.data = bytearray()

    def data_received(self, data: bytes) -> None:
        self.data += data


Pair = tuple[Connection, Peer, asyncio.BaseTransport]


@pytest.fixture
async def socket_pair() -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    """Makes hub-side `Connection`s on real transports, with their client ends; closes them."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.BaseTransport] = []

    async def make(flusher: Flusher, limit: int = 1 << 20) -> Pair:
        ours, theirs = socket.socketpair()
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        client, peer = await loop.create_connection(Peer, sock=theirs)
        transports.extend((transport, client))
        claims = Claims("ana", "org", "attendee", (1,), None, 2**40, 0)
        conn = Connection(transport, claims, flusher, limit, loop.time())  # type: ignore[arg-type]
        return conn, peer, client

    yield make
    for transport in transports:
        transport.abort()
    await asyncio.sleep(0)  # let the transports finish closing


def live(offset: int = 0) -> SubState:
    state = SubState("e1", offset)
    state.buffer = None  # subscribed: publications flow live
    return state


async def test_a_frame_goes_behind_replies_already_queued(socket_pair: Any) -> None:
    flusher = Flusher(grace_s=2.0)
    (idle, idle_peer, _), (busy, busy_peer, _) = [await socket_pair(flusher) for _ in range(2)]
    members = {idle: live(), busy: live()}
    rounds = Delivery(members, flusher, careful=lambda *_: None)
    rounds.add(1, "e1", [A])
    busy.send(b'{"op":"pong","id":7}')  # queued before the round runs: ahead of the publication
    pub = frame_header(len(A)) + A
    await wait_for(lambda: idle_peer.data == pub, what="the frame, written as it is")
    both = b'[{"op":"pong","id":7},%b]' % A
    await wait_for(lambda: busy_peer.data == frame_header(len(both)) + both, what="one batch")
    assert members[idle].offset == members[busy].offset == 1


async def test_a_socket_that_leaves_in_mid_round_gets_nothing(
    socket_pair: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "CHUNK", 1)
    flusher = Flusher(grace_s=2.0)
    (first, first_peer, _), (second, second_peer, _) = [
        await socket_pair(flusher) for _ in range(2)
    ]
    members = {first: live(), second: live()}
    rounds = Delivery(members, flusher, careful=lambda *_: None)
    rounds.add(1, "e1", [A])
    # Runs after the round's first chunk and before its second.
    asyncio.get_running_loop().call_soon(members.pop, second)
    await wait_for(lambda: first_peer.data == frame_header(len(A)) + A, what="the first socket's")
    await wait_for(lambda: not rounds._busy, what="the round to end")
    assert second_peer.data == b""


async def test_a_client_that_stops_reading_is_cut_as_slow(socket_pair: Any) -> None:
    """docs/protocol.md §Disconnect codes: over four times the limit waiting for the client."""
    flusher = Flusher(grace_s=60.0)
    conn, _, client = await socket_pair(flusher, limit=1024)
    client.pause_reading()
    members = {conn: live()}
    rounds = Delivery(members, flusher, careful=lambda *_: None)
    big = b'{"pad":"%b"}' % (b"x" * 2000)
    for n in range(1, 200):
        rounds.add(n, "e1", [big])
        await wait_for(lambda: not rounds._busy, what="a round")
        if conn.closed:
            break
    assert conn.close_reason == "slow_consumer"
    conn.release()


async def test_burst_reaches_everyone_in_order_around_replies_and_unsubscribes(
    hub_server: Any, aiohttp_client: Any, make_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipelined publications while subscribers have replies queued, join, and leave.

    Rounds of three sockets per loop callback, so joins and leaves land in mid-round.
    """
    monkeypatch.setattr(delivery, "CHUNK", 3)
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    token = make_token("attendee", events=[event_id])
    stay: list[Raw] = [await connect(client, token) for _ in range(8)]
    chatty: list[Raw] = [await connect(client, token) for _ in range(4)]
    leave: list[Raw] = [await connect(client, token) for _ in range(4)]
    join: list[Raw] = [await connect(client, token) for _ in range(4)]
    for raw in stay + chatty + leave:
        assert (await raw.subscribe(channel))["op"] == "subscribed"
    count = 150

    async def publish_all() -> None:
        window = 30  # pipelined, within the hub's 64 requests in flight
        for start in range(0, count, window):
            sent = range(start, min(count, start + window))
            for n in sent:
                payload = {"channel": channel, "data": {"n": n}}
                await organizer.send(op="rpc", method="channels.publish", params=payload)
            replies = [await organizer.recv() for _ in sent]
            assert all(r["op"] == "result" for r in replies), replies

    async def pings(raw: Raw) -> None:
        for _ in range(30):  # replies queued on the connection while publications arrive
            await raw.send(op="ping")
            await asyncio.sleep(0)

    async def received(raw: Raw) -> list[int]:
        return [(await raw.until("pub"))["data"]["n"] for _ in range(count)]

    async def leaves(raw: Raw) -> None:
        await raw.until("pub")
        await raw.send(op="unsubscribe", channel=channel)
        while (message := await raw.recv())["op"] != "unsubscribed":
            assert message["op"] == "pub", message
        await raw.send(op="ping")  # everything after `unsubscribed` up to this pong
        while (message := await raw.recv())["op"] != "pong":
            assert message["op"] != "pub", f"a publication after unsubscribed: {message}"

    async def joins(raw: Raw) -> None:
        subscribed = await raw.subscribe(channel)  # `subscribed` comes before any publication
        assert subscribed["op"] == "subscribed", subscribed
        offsets = [(await raw.until("pub"))["offset"] for _ in range(count - subscribed["offset"])]
        assert offsets == list(range(subscribed["offset"] + 1, count + 1))

    results = await asyncio.gather(
        publish_all(),
        *(pings(raw) for raw in chatty),
        *(leaves(raw) for raw in leave),
        *(joins(raw) for raw in join),
        *(received(raw) for raw in stay + chatty),
    )
    for got in results[1 + len(chatty) + len(leave) + len(join) :]:
        assert got == list(range(count))
