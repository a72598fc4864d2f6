"""Hostile clients on raw TCP sockets, for tests of the hub's own WebSocket handling.

A `Peer` writes exactly the bytes a test chooses and reads only when the test
says so, which neither aiohttp's nor websockets' client allows: frames cut into
single bytes, RFC 6455 violations, a client that never reads, an RST.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from typing import Any

import orjson
from websockets.frames import Frame, Opcode

from tests.waiting import arrives


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

    async def exactly(self, n: int) -> bytes:
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
            b0, b1 = await self.exactly(2)
            assert not b1 & 0x80, "server frames are never masked"
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.exactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.exactly(8))
            return b0, await self.exactly(length)

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
    """An upgrade request written by hand, `extra` header lines (each ending in CRLF) added."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws?token={token} {version}\r\nHost: {server.host}:{server.port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


async def opened(server: Any, token: str, *, rcvbuf: int | None = None) -> Peer:
    """A peer past the handshake, its 101 read."""
    peer = await Peer.dial(server, rcvbuf=rcvbuf)
    await peer.send(upgrade(server, token))
    assert (await peer.head()).startswith(b"HTTP/1.1 101 ")
    return peer


def masked(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    """A client frame as `websockets` (an independent implementation) serializes it."""
    return Frame(opcode, data, fin=fin).serialize(mask=True)


def ping_op(n: int) -> bytes:
    """The body of a `ping` op with this id."""
    return orjson.dumps({"op": "ping", "id": n})


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
                peer.exactly(int(headers["content-length"])), what="a response body"
            )
        return int(status_line.split()[1]), headers, body
    finally:
        peer.close()


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


def reset(peer: Peer) -> None:
    """Close with an RST, not a FIN (SO_LINGER 0): the abrupt end of a crashed client."""
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
