"""Hostile clients' frames against a real hub (hub/reader.py, protocol/wsreader.py).

Frames cut into single bytes and tiny fragments, RFC 6455 violations, floods
of control frames from a client that never reads, closes, half-closes and
resets while the hub still has bytes for the client. What must hold: the
RFC's close codes, memory bounded by the slow-consumer rule, and every socket
let go within the linger of docs/protocol.md §Disconnect codes, with nothing
(presence, subscriptions, closing tasks) left behind.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import orjson
from websockets.frames import Opcode

from bilten.hub.app import create_app
from bilten.hub.runtime import HUB
from bilten.infra.settings import Settings
from tests.hub.helpers import connect, create_event
from tests.hub.peers import crafted, masked, opened, ping_op, reset
from tests.waiting import arrives, wait_for


async def test_a_message_in_many_tiny_fragments_is_read(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """Fragments of one byte, and empty ones, up to the size limit: each costs the hub O(1).

    RFC 6455 §5.4 allows any number of fragments. Every fragment once summed
    all the fragments before it, so one message of 1-byte fragments froze the
    hub's loop for hours, and empty ones piled up without limit.
    """
    server = await aiohttp_server(create_app(migrated))
    peer = await opened(server, make_token("organizer"))
    try:
        body = orjson.dumps({"op": "ping", "id": 1, "pad": "x" * 200_000})
        frames = [masked(Opcode.TEXT, body[:1], fin=False)]
        frames += [masked(Opcode.CONT, b"", fin=False) for _ in range(100_000)]
        frames += [masked(Opcode.CONT, body[i : i + 1], fin=False) for i in range(1, len(body) - 1)]
        frames.append(masked(Opcode.CONT, body[-1:]))
        await peer.send(b"".join(frames))
        assert await peer.message() == [{"op": "pong", "id": 1}]
    finally:
        peer.close()


def shrink_send_buffer(server: Any) -> Any:
    """The one connection, its kernel send buffer made small so a backlog shows in its transport."""
    (conn,) = server.app[HUB].connections
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return conn


async def test_a_ping_flood_from_a_client_that_never_reads_is_a_slow_consumer(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """Pongs count against the send buffer like any reply: the hub's memory stays bounded.

    Control frames bypass the rate limit and every pong was written straight
    to the transport, so such a client grew the hub's buffer without end.
    """
    settings = migrated.replace(send_buffer_bytes=64 * 1024, slow_consumer_grace_s=0.2)
    server = await aiohttp_server(create_app(settings))
    peer = await opened(server, make_token("organizer"), rcvbuf=4096)
    try:
        conn = shrink_send_buffer(server)
        pings = masked(Opcode.PING, b"p" * 125) * 1000
        sent = 0
        while not conn.closed and sent < 400 * settings.send_buffer_bytes:
            await peer.send(pings)
            sent += len(pings)
            await asyncio.sleep(0)
        assert conn.close_reason == "slow_consumer", f"{sent} bytes of pings, still open"
    finally:
        peer.close()


async def test_a_client_that_closes_without_reading_is_let_go(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """A close frame or a FIN while the hub still has bytes for the client: gone within the linger.

    Closing the transport waits for its buffer to drain, which never happens
    when the client stopped reading: the socket, its session and its
    subscriptions stayed forever.
    """
    server = await aiohttp_server(create_app(migrated))
    hub = server.app[HUB]
    pings = masked(Opcode.PING, b"p" * 125) * 1600  # ~200 KiB of pongs, under the 1 MiB limit
    for goodbye in ("close frame", "fin"):
        peer = await opened(server, make_token("organizer"), rcvbuf=4096)
        try:
            conn = shrink_send_buffer(server)
            await peer.send(pings)
            await wait_for(
                lambda: conn.transport.get_write_buffer_size() > 100_000,  # noqa: B023
                what="pongs to pile up in the hub",
            )
            if goodbye == "fin":
                peer.sock.shutdown(socket.SHUT_WR)
            else:
                await peer.send(masked(Opcode.CLOSE, struct.pack("!H", 1000)))
            await wait_for(lambda: not hub.connections, what=f"the hub to let go after a {goodbye}")
        finally:
            peer.close()


BROKEN = [  # (what, bytes after the handshake, the close code RFC 6455 asks for)
    ("RSV1 without permessage-deflate", crafted(0xC1, b"{}"), 1002),
    ("RSV2", crafted(0xA1, b"{}"), 1002),
    ("RSV3", crafted(0x91, b"{}"), 1002),
    ("reserved data opcode", crafted(0x83, b"{}"), 1002),
    ("reserved control opcode", crafted(0x8B, b""), 1002),
    ("continuation without a start", masked(Opcode.CONT, b"{}"), 1002),
    (
        "a new message inside a fragmented one",
        masked(Opcode.TEXT, b"[", fin=False) + masked(Opcode.TEXT, b"{}"),
        1002,
    ),
    ("a fragmented ping", crafted(0x09, b"p"), 1002),
    ("a 126-byte ping", crafted(0x89, b"p" * 126), 1002),
    ("a close with a 1-byte body", crafted(0x88, b"\x03"), 1002),
    ("a close reason over 125 bytes", crafted(0x88, b"\x03\xe8" + b"r" * 124), 1002),
    *(
        (f"close code {code}", crafted(0x88, struct.pack("!H", code)), 1002)
        for code in (0, 999, 1004, 1005, 1006, 1015, 2999, 5000)
    ),
    ("a close reason not UTF-8", crafted(0x88, b"\x03\xe8\xff"), 1007),
    ("text not UTF-8", masked(Opcode.TEXT, b'{"op":"\xff"}'), 1007),
    ("a surrogate in text", masked(Opcode.TEXT, b"\xed\xa0\x80"), 1007),
    (
        "text ending in half a character, across fragments",
        masked(Opcode.TEXT, b'"\xc3', fin=False) + masked(Opcode.CONT, b"\xa9\xc3"),
        1007,
    ),
    ("a 64-bit length of 2^63", crafted(0x81, b"", length=1 << 63), 1009),
    (
        "fragments that add up past the limit",
        masked(Opcode.TEXT, b"x" * 600, fin=False) + masked(Opcode.CONT, b"x" * 600),
        1009,
    ),
]


async def test_frames_that_break_rfc_6455_close_with_its_codes(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """§5.2, §5.4, §5.5, §7.4, §8.1 and the size limit: one client each, each let go."""
    server = await aiohttp_server(create_app(migrated.replace(max_frame_bytes=1024)))
    hub = server.app[HUB]
    for what, frames, expected in BROKEN:
        peer = await opened(server, make_token("organizer"))
        try:
            await peer.send(frames)
            assert await peer.close_code() == expected, what
        finally:
            peer.close()  # as aiohttp clients do at once; others are half-closed after 1 s
        await wait_for(lambda: not hub.connections, what=f"the hub to let go after {what}")


async def test_control_frames_and_empty_frames_that_are_allowed(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """Byte by byte: an unasked pong, empty frames, pings amid fragments, data after close."""
    server = await aiohttp_server(create_app(migrated))
    hub = server.app[HUB]
    peer = await opened(server, make_token("organizer"))
    try:
        stream = b"".join(
            [
                masked(Opcode.PONG, b"unasked"),  # §5.5.3: an unsolicited pong is ignored
                masked(Opcode.TEXT, b"", fin=False),
                masked(Opcode.PING, b"in between"),
                masked(Opcode.CONT, ping_op(1)[:5], fin=False),
                masked(Opcode.PING, b""),
                masked(Opcode.CONT, ping_op(1)[5:]),
                masked(Opcode.BINARY, ping_op(2)),
                masked(Opcode.TEXT, b""),  # an empty message: a bad frame, answered
            ]
        )
        for i in range(len(stream)):
            await peer.send(stream[i : i + 1])
        got: list[tuple[int, bytes]] = [await peer.frame() for _ in range(3)]
        assert got[:2] == [(0x8A, b"in between"), (0x8A, b"")]
        messages = orjson.loads(got[2][1]) if got[2][0] == 0x81 else None
        while not isinstance(messages, list) or len(messages) < 3:
            more = await peer.message()
            messages = (messages if isinstance(messages, list) else [messages]) + more
        assert messages[:2] == [{"op": "pong", "id": 1}, {"op": "pong", "id": 2}]
        assert messages[2]["error"]["code"] == "bad_frame"
        # Data after the client's close is not read: the close is answered, the socket closed.
        await peer.send(
            masked(Opcode.CLOSE, struct.pack("!H", 1000)) + masked(Opcode.TEXT, ping_op(3))
        )
        assert await peer.close_code() == 1000
        assert await arrives(peer.loop.sock_recv(peer.sock, 1), what="the hub's FIN") == b""
        await wait_for(lambda: not hub.connections, what="the hub to let go")
    finally:
        peer.close()


async def test_many_clients_reset_at_once_leave_nothing_behind(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Subscribed clients reset together, some mid-frame: presence, subscriptions, tasks all go."""
    hub = hub_server.app[HUB]
    organizer = await connect(await aiohttp_client(hub_server), make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    peers = []
    for n in range(40):
        peer = await opened(hub_server, make_token("attendee", sub=f"a{n}", events=[event_id]))
        subscribe = {"op": "subscribe", "id": 1, "channel": channel}
        await peer.send(masked(Opcode.TEXT, orjson.dumps(subscribe)))
        assert (await peer.message())[0]["op"] == "subscribed"
        peers.append(peer)

    async def online(count: int) -> bool:
        reply = await organizer.call("presence.get", {"event_id": event_id})
        return int(reply["result"]["online"]["attendee"]) == count

    await wait_for(lambda: online(40), what="40 attendees online")
    for n, peer in enumerate(peers):
        if n % 2:  # half of them cut off in the middle of a frame
            await peer.send(masked(Opcode.TEXT, ping_op(2))[:5])
    for peer in peers:
        reset(peer)
    await wait_for(lambda: len(hub.connections) == 1, what="the hub to let go of 40 sockets")
    await wait_for(lambda: not hub.closing, what="their closing work to finish")
    (conn,) = hub.connections
    assert not conn.subs
    await wait_for(lambda: online(0), what="no attendee online")
    assert hub.fanout.channels == 0, "the channel's feed outlived its last subscriber"


async def test_clients_gone_mid_subscribe_leave_the_hub_hearing_nats(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Each subscribes to a channel new to the hub and closes in the same write, so the hub
    gives up its subscribe while it waits for NATS to confirm the channel's subscription.
    That wait given up once broke nats-py's reader: every later command timed out."""
    for n in range(20):
        channel = f"user.leaver-{n}"
        peer = await opened(hub_server, make_token("attendee", sub=f"leaver-{n}"))
        subscribe = orjson.dumps({"op": "subscribe", "id": 1, "channel": channel})
        goodbye = masked(Opcode.CLOSE, struct.pack("!H", 1000))
        await peer.send(masked(Opcode.TEXT, subscribe) + goodbye)
        if n % 2:
            reset(peer)
        else:
            peer.close()
    hub = hub_server.app[HUB]
    await wait_for(lambda: not hub.connections and not hub.closing, what="the leavers let go")
    organizer = await connect(await aiohttp_client(hub_server), make_token("organizer"))
    event_id = await create_event(organizer)  # a NATS request to a worker, answered
    reply = await organizer.subscribe(f"event.{event_id}.announcements")
    assert reply["op"] == "subscribed", reply
