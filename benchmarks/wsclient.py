"""A minimal RFC 6455 client on `asyncio.Protocol`, cheap enough to load a server from one core.

The load generator holds a thousand sockets on one core while the server under
test has another, so the client must cost far less per message than the
server. It does only what the benchmark needs: the opening handshake by hand
(§4.1), masked client frames (§5.3), and a parser for unmasked server frames
that assumes FIN (neither the hub nor aiohttp fragments text frames), answers
pings (§5.5.2) and handles 16- and 64-bit lengths (§5.2). Text payloads are
handed to `on_text` as a slice of the receive buffer, so a subclass can count
messages with `bytes.count` without copying or parsing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from collections.abc import Callable
from typing import TypeVar, cast

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_MAX_HEAD = 16 * 1024
C = TypeVar("C", bound="WsClient")


class HandshakeError(ConnectionError):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status: str, body: bytes) -> None:
        super().__init__(f"{status}: {body[:200]!r}")
        self.status = status


def mask_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A complete client frame: FIN, `opcode`, masked with a fresh key (RFC 6455 §5.3)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    if not n:
        return header + key
    # XOR as one big integer: C speed without numpy, fine for frames of a few hundred bytes.
    stream = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")
    return header + key + masked.to_bytes(n, "little")


class WsClient(asyncio.Protocol):
    """One client WebSocket; subclasses override `on_text`.

    `opened` resolves after the 101 response, `closed` when the socket is gone.
    `close_code` holds the server's close code if it sent a close frame.
    """

    def __init__(self, host: str, port: int, path: str) -> None:
        loop = asyncio.get_running_loop()
        self.request_line = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        )
        self.key = base64.b64encode(os.urandom(16))
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._buf = bytearray()
        self._upgraded = False

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            f"{self.request_line}Sec-WebSocket-Key: {self.key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if not self._upgraded:
            data = self._handshake(data)
            if not data:
                return
        now = time.time_ns()
        buf = self._buf
        view: bytes | bytearray
        if buf:
            buf += data
            view = buf
        else:
            view = data
        pos, size = 0, len(view)
        while size - pos >= 2:
            b0, b1 = view[pos], view[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = (view[pos + 2] << 8) | view[pos + 3], pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(view[pos + 2 : pos + 10], "big"), pos + 10
            end = start + length
            if end > size:
                break
            if b1 & 0x80:  # §5.1: "A client MUST close a connection if it detects a masked frame"
                self.abort()
                return
            opcode = b0 & 0x0F
            if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                self.on_text(view, start, end, now)
            elif opcode == OP_PING:  # §5.5.2: answer with the same application data
                self.send(bytes(view[start:end]), OP_PONG)
            elif opcode == OP_CLOSE:
                if length >= 2:
                    self.close_code = (view[start] << 8) | view[start + 1]
                self.close()
                return
            pos = end
        if view is buf:
            del buf[:pos]
        elif pos < size:
            buf.extend(view[pos:])

    def _handshake(self, data: bytes) -> bytes:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > _MAX_HEAD:
                self._fail(HandshakeError("oversized response head", bytes(self._head[:200])))
            return b""
        head, rest = bytes(self._head[:end]), bytes(self._head[end + 4 :])
        self._head.clear()
        lines = head.split(b"\r\n")
        status = lines[0].decode("latin-1")
        if " 101 " not in f"{status} ":
            self._fail(HandshakeError(status, rest))
            return b""
        accept = base64.b64encode(hashlib.sha1(self.key + _GUID).digest())  # §4.2.2 item 5.4
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])
        }
        if headers.get(b"sec-websocket-accept") != accept:
            self._fail(HandshakeError("bad Sec-WebSocket-Accept", head))
            return b""
        self._upgraded = True
        self.opened.set_result(None)
        return rest

    def _fail(self, error: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
        self.abort()

    # --- for subclasses and callers ---

    def on_text(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        """One text frame's payload is `data[start:end]`, received at `now_ns`."""

    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        """Write one masked frame."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mask_frame(payload, opcode))

    def close(self) -> None:
        """Send a normal close frame (§7.1.2) and close the socket."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mask_frame(struct.pack("!H", 1000), OP_CLOSE))
            self.transport.close()

    def abort(self) -> None:
        """Drop the socket at once."""
        if self.transport is not None:
            self.transport.abort()


async def open_client(make: Callable[[], C], host: str, port: int, timeout: float) -> C:
    """Connect `make()`'s protocol, upgrade, and return it (raises on failure or timeout)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _transport, client = await loop.create_connection(make, host, port)
        try:
            await client.opened
        except BaseException:
            client.abort()
            raise
    return client
