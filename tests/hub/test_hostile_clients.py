"""Hostile clients on raw TCP sockets against a real hub (hub/ws.py, hub/reader.py).

Each client writes exactly the bytes a test chooses and reads only when the
test says so: frames cut into single bytes and tiny fragments, RFC 6455
violations, floods of control frames from a client that never reads, closes
and half-closes while the hub still has bytes for the client, and handshakes
that are not quite WebSocket upgrades. What must hold: the RFC's close codes,
the handshake refusals of docs/protocol.md §Connecting, memory bounded by the
slow-consumer rule, and every socket let go within the linger of
docs/protocol.md §Disconnect codes.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
from typing import Any

import aiohttp
import orjson
from websockets.frames import Frame, Opcode

from bilten.hub.app import create_app
from bilten.hub.runtime import HUB
from bilten.infra.settings import Settings
from bilten.protocol.tokens import encode_token, mint_claims
from tests.hub.helpers import connect, create_event
from tests.waiting import arrives, wait_for


class Peer:
    """One raw client socket: it sends what the test writes and reads only when asked."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()

    @classmethod
    async def dial(cls, server: Any, *, rcvbuf: int | None = None) -> Peer:
        sock = socket.socket()
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf is not None:  # before connect, so the window starts small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await asyncio.get_running_loop().sock_connect(sock, (server.host, server.port))
        return cls(sock)

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def _more(self) -> bool:
        chunk = await self.loop.sock_recv(self.sock, 65536)
        self.buffer += chunk
        return bool(chunk)

    async def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not await self._more():
                raise ConnectionError(f"closed with {bytes(self.buffer)!r} of {n} bytes")
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def head(self) -> bytes:
        """The HTTP response head."""

        async def read() -> bytes:
            while b"\r\n\r\n" not in self.buffer:
                if not await self._more():
                    raise ConnectionError(f"closed after {bytes(self.buffer)!r}")
            end = self.buffer.index(b"\r\n\r\n") + 4
            data = bytes(self.buffer[:end])
            del self.buffer[:end]
            return data

        return await arrives(read(), what="a response head")

    async def frame(self) -> tuple[int, bytes]:
        """The next server frame: its first byte and its payload."""

        async def read() -> tuple[int, bytes]:
            b0, b1 = await self._exactly(2)
            assert not b1 & 0x80, "server frames are never masked"
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self._exactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self._exactly(8))
            return b0, await self._exactly(length)

        return await arrives(read(), what="a frame from the hub")

    async def close_code(self) -> int:
        """Read on to the hub's close frame; its code."""
        while True:
            b0, payload = await self.frame()
            if b0 & 0x0F == Opcode.CLOSE:
                return int.from_bytes(payload[:2], "big")

    async def message(self) -> list[dict[str, Any]]:
        """The messages of the next text frame, skipping control frames."""
        while True:
            b0, payload = await self.frame()
            if b0 & 0x0F == Opcode.TEXT:
                decoded = orjson.loads(payload)
                return decoded if isinstance(decoded, list) else [decoded]

    def close(self) -> None:
        self.sock.close()


def upgrade(server: Any, token: str, *, version: str = "HTTP/1.1", extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws?token={token} {version}\r\nHost: {server.host}:{server.port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


async def opened(server: Any, token: str, *, rcvbuf: int | None = None) -> Peer:
    peer = await Peer.dial(server, rcvbuf=rcvbuf)
    await peer.send(upgrade(server, token))
    assert (await peer.head()).startswith(b"HTTP/1.1 101 ")
    return peer


def masked(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True)


def ping_op(n: int) -> bytes:
    return orjson.dumps({"op": "ping", "id": n})


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


async def answer(server: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP request on a fresh socket: status, headers (lowercased names) and body."""
    peer = await Peer.dial(server)
    try:
        await peer.send(request)
        head = (await peer.head()).decode()
        status_line, *lines = head.split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (li.partition(":") for li in lines)}
        body = b""
        if int(headers.get("content-length", "0")) and not request.startswith(b"HEAD"):
            body = await arrives(
                peer._exactly(int(headers["content-length"])), what="a response body"
            )
        return int(status_line.split()[1]), headers, body
    finally:
        peer.close()


async def test_handshakes_that_are_not_quite_websocket_upgrades(
    migrated: Settings, aiohttp_server: Any, make_token: Any, secret: str
) -> None:
    """RFC 6455 §4.2.1-2: each refused with its status and code; the near misses that are
    fine (a Connection list, an extension or subprotocol asked for) upgrade without them."""
    settings = migrated.replace(allowed_origins=("https://tickets.example",))
    server = await aiohttp_server(create_app(settings))
    token = make_token("organizer")
    good = upgrade(server, token)
    key = "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode() + "\r\n"

    def code(body: bytes) -> str:
        return str(orjson.loads(body)["error"]["code"])

    status, headers, body = await answer(server, good.replace(b"Version: 13", b"Version: 8"))
    assert (status, code(body)) == (426, "upgrade_required")
    assert headers["sec-websocket-version"] == "13"  # §4.2.2: the versions the server speaks
    status, _, body = await answer(server, upgrade(server, token, extra=key))
    assert (status, code(body)) == (400, "bad_request"), "two Sec-WebSocket-Key fields (§11.3.1)"
    status, _, body = await answer(server, upgrade(server, token, version="HTTP/1.0"))
    assert (status, code(body)) == (400, "bad_request"), "HTTP/1.0 (§4.2.1: 1.1 or higher)"
    status, _, _ = await answer(server, good.replace(b"GET ", b"HEAD ", 1))
    assert status == 400, "HEAD (§4.2.1: a GET)"
    no_key = b"\r\n".join(li for li in good.split(b"\r\n") if not li.startswith(b"Sec-WebSocket-K"))
    status, _, body = await answer(server, no_key)
    assert (status, code(body)) == (400, "bad_request")
    evil = upgrade(server, token, extra="Origin: https://evil.example\r\n")
    status, _, body = await answer(server, evil)
    assert (status, code(body)) == (403, "forbidden")
    claims = mint_claims(
        sub="organizer-1", org="acme", role="organizer", events="*", ttl_s=1, now=time.time() - 60
    )
    expired = upgrade(server, encode_token(claims, secret))
    status, _, body = await answer(server, expired)
    assert (status, code(body)) == (401, "token_expired")
    huge = upgrade(server, token, extra=f"X-Pad: {'x' * 100_000}\r\n")
    status, _, _ = await answer(server, huge)
    assert 400 <= status < 500

    fine = [
        good.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"),
        upgrade(server, token, extra="Origin: https://tickets.example\r\n"),
        upgrade(server, token, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        upgrade(server, token, extra="Sec-WebSocket-Protocol: chat\r\n"),
    ]
    for request in fine:
        status, headers, _ = await answer(server, request)
        assert status == 101, request
        assert "sec-websocket-extensions" not in headers  # nothing negotiated, nothing claimed
        assert "sec-websocket-protocol" not in headers


def crafted(b0: int, payload: bytes, *, length: int | None = None) -> bytes:
    """A masked frame with any first byte and, if given, a length field that lies."""
    n = len(payload) if length is None else length
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((b0, 0x80 | 126)) + struct.pack("!H", n)
    else:
        head = bytes((b0, 0x80 | 127)) + struct.pack("!Q", n)
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


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


async def test_an_upgrade_on_a_keep_alive_connection_after_plain_requests(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """The socket changes hands after other requests on it, sent one by one or all in one packet."""
    server = await aiohttp_server(create_app(migrated))
    plain = f"GET / HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n\r\n".encode()
    token = make_token("organizer")
    for pipelined in (False, True):
        peer = await Peer.dial(server)
        try:
            ping = masked(Opcode.TEXT, ping_op(7))
            if pipelined:
                await peer.send(plain + plain + upgrade(server, token) + ping)
            for _ in range(2):
                if not pipelined:
                    await peer.send(plain)
                head = await peer.head()
                assert head.startswith(b"HTTP/1.1 200 "), head
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                assert orjson.loads(await arrives(peer._exactly(length), what="a body"))["links"]
            if not pipelined:
                await peer.send(upgrade(server, token) + ping)
            assert (await peer.head()).startswith(b"HTTP/1.1 101 ")
            assert await peer.message() == [{"op": "pong", "id": 7}]
        finally:
            peer.close()
    # Plain requests on a keep-alive connection go on beside the sockets the hub took over.
    peer = await opened(server, token)
    try:
        async with aiohttp.ClientSession(f"http://{server.host}:{server.port}") as http:
            for _ in range(3):
                async with http.get("/") as resp:
                    assert resp.status == 200 and (await resp.json())["links"]["ws"] == "/ws"
        await peer.send(masked(Opcode.TEXT, ping_op(8)))
        assert await peer.message() == [{"op": "pong", "id": 8}]
    finally:
        peer.close()


def reset(peer: Peer) -> None:
    """Close with an RST, not a FIN (SO_LINGER 0): the abrupt end of a crashed client."""
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
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
