"""One client socket: its outbound buffer, batching writer and slow-consumer rule.

Replies go through `Connection.send` as ready-made message bytes. A per-hub
`Flusher` writes each dirty connection once per event-loop pass: all queued
messages as one WebSocket frame (a JSON array when there are several), in one
`transport.write` (docs/protocol.md §Batching). A channel's publications take
a shorter way when nothing is queued: their frame, built once for every
subscriber, goes straight to the transport (`write_now`, hub/delivery.py).

Memory is bounded: bytes waiting in the transport above `send_buffer_bytes`
for longer than the grace period, or above four times that at any moment, get
the connection closed with `disconnect slow_consumer`.

Closing lingers (docs/protocol.md §Disconnect codes): the `disconnect` frame
goes out ahead of anything still queued here, then the close frame, and the
socket keeps being read (the input dropped) until the client answers the
close, for at most `LINGER_S`; hub/reader.py closes the socket then. Closing it
at once while the client is still sending makes the kernel answer with a
reset, which can destroy the last frames before the client reads them: it
then sees 1006, not the code it was sent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from asyncio import Transport
from dataclasses import dataclass, field

from bilten.protocol.disconnects import DisconnectCode
from bilten.protocol.disconnects import close_code as close_code_of
from bilten.protocol.frames import encode_disconnect, join_frames
from bilten.protocol.tokens import Claims
from bilten.protocol.wsframe import close_frame, frame_header

log = logging.getLogger(__name__)

_ids = itertools.count(1)
HARD_LIMIT_FACTOR = 4
CHUNK = 100  # sockets written per event-loop callback
LINGER_S = 5.0  # how long a closing connection waits for the client to read its last frames
REPLY_S = 1.0  # after an unreadable frame: how long to wait for the client to close first
# RFC 6455 §5.5.2-3 control frames (§11.8 opcodes); a ping needs no payload.
OP_PING = 0x9
OP_PONG = 0xA
PING_FRAME = frame_header(0, OP_PING)


class SubState:
    """A connection's position in one channel; `buffer` holds live messages during recovery."""

    __slots__ = ("buffer", "epoch", "offset")

    def __init__(self, epoch: str = "", offset: int = 0) -> None:
        self.epoch = epoch
        self.offset = offset
        self.buffer: list[tuple[int, str, bytes]] | None = []


@dataclass(eq=False, slots=True)
class Connection:
    """State of one WebSocket client on this hub."""

    transport: Transport
    claims: Claims
    flusher: Flusher
    limit: int
    heard: float  # loop time of the last frame from the client (hub/keepalive.py)
    id: int = field(default_factory=lambda: next(_ids))
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    dirty: bool = False
    closed: bool = False
    over_since: float | None = None
    close_reason: str | None = None
    subs: dict[str, SubState] = field(default_factory=dict)
    linger: asyncio.TimerHandle | None = None  # aborts the socket if the close never completes
    requests: int = 0  # requests of this client being worked on (hub/session.py)
    leaving: bool = False  # told to go (hub/goodbye.py): what it sends now is not run

    @property
    def idle(self) -> bool:
        """No request in flight and no reply waiting to be written: a goodbye loses nothing."""
        return self.requests == 0 and not self.dirty

    def ping(self) -> None:
        """Send a WebSocket ping (hub/keepalive.py); it goes ahead of anything queued."""
        if not self.closed and not self.transport.is_closing():
            self.transport.write(PING_FRAME)

    def pong(self, data: bytes) -> None:
        """Answer a client's ping with its payload (RFC 6455 §5.5.3), ahead of anything queued.

        Pings pass no rate limit, so the slow-consumer rule bounds what their
        pongs leave in the transport, as it does for replies.
        """
        transport = self.transport
        if self.closed or transport.is_closing():
            return
        transport.writelines((frame_header(len(data), OP_PONG), data))
        if self.over_since is not None or transport.get_write_buffer_size() > self.limit:
            self.check_buffer(time.monotonic())

    def send(self, message: bytes) -> None:
        """Queue one message; it is written in this loop pass's flush."""
        if self.closed:
            return
        self.pending.append(message)
        self.pending_bytes += len(message)
        if self.pending_bytes > self.limit * HARD_LIMIT_FACTOR:
            self.disconnect("slow_consumer", "outbound buffer limit exceeded")
            return
        if not self.dirty:
            self.dirty = True
            self.flusher.mark(self)

    def write_now(self, frame: bytes, now: float) -> bool:
        """Write a ready-made frame at once, unless messages are queued ahead of it.

        For a channel's publications, framed once for all subscribers
        (hub/delivery.py). False when the caller must queue its messages with
        `send` instead, to keep them behind what is queued (or drop them, closed).
        """
        transport = self.transport
        if self.dirty or self.closed or transport.is_closing():
            return False
        transport.write(frame)
        # The slow-consumer rule only has work when the transport holds more than the limit.
        if self.over_since is not None or transport.get_write_buffer_size() > self.limit:
            self.check_buffer(now)
        return True

    def write_pending(self, now: float) -> None:
        """Write everything queued as one frame, then apply the slow-consumer rule."""
        self.dirty = False
        if self.closed or not self.pending or self.transport.is_closing():
            return
        messages, self.pending, self.pending_bytes = self.pending, [], 0
        payload = join_frames(messages)
        self.transport.writelines((frame_header(len(payload)), payload))
        self.check_buffer(now)

    def check_buffer(self, now: float) -> None:
        """Disconnect when the transport holds too much for too long."""
        if self.closed:
            return
        buffered = self.transport.get_write_buffer_size()
        if buffered <= self.limit:
            self.over_since = None
        elif buffered > self.limit * HARD_LIMIT_FACTOR:
            self.disconnect("slow_consumer", "outbound buffer limit exceeded")
        elif self.over_since is None:
            self.over_since = now
        elif now - self.over_since > self.flusher.grace_s:
            self.disconnect("slow_consumer", "client reads too slowly")

    def disconnect(self, code: DisconnectCode, reason: str) -> None:
        """Send `disconnect` ahead of anything queued, then close with the code's number.

        Messages still queued here are dropped. What the transport already
        holds goes first (a WebSocket frame cannot be cut), so a client that
        reads slowly still gets the frame if it catches up within `LINGER_S`.
        """
        if self.closed:
            return
        self._stop(code)
        transport = self.transport
        if transport.is_closing():
            return
        body = encode_disconnect(code, reason)
        transport.writelines(
            (frame_header(len(body)), body, close_frame(close_code_of(code), reason))
        )
        # Read on until the client's close (hub/reader.py); one that never comes is cut.
        self.linger = self.flusher.loop.call_later(LINGER_S, transport.abort)
        log.info("disconnected %s", code, extra={"ctx": {"conn": self.id, "sub": self.claims.sub}})

    async def refuse_frame(self, code: int, reason: str, label: str) -> None:
        """Close after a frame that could not be read (1009: over the size limit).

        The frame reader is dead then, so the client's close frame cannot be
        seen: wait for the client to close the TCP connection (aiohttp clients
        do at once); after `REPLY_S` half-close, which ends the wait of clients
        that expect the server to close first (browsers, websockets); abort
        after `LINGER_S` in all.
        """
        if self.closed:
            return
        self._stop(label)
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(close_frame(code, reason))
        log.info(
            "closed %s: %s", code, reason, extra={"ctx": {"conn": self.id, "sub": self.claims.sub}}
        )
        if not await self._gone_within(REPLY_S) and transport.can_write_eof():
            transport.write_eof()
        if not await self._gone_within(LINGER_S - REPLY_S):
            transport.abort()

    def close_socket(self) -> None:
        """Close the socket once the transport has written what it holds, and cut it after
        `LINGER_S` if that never happens: a client that stopped reading never lets it drain."""
        self.transport.close()
        if self.linger is None:
            self.linger = self.flusher.loop.call_later(LINGER_S, self.transport.abort)

    def release(self) -> None:
        """Stop the linger timer: the socket is done with."""
        if self.linger is not None:
            self.linger.cancel()
            self.linger = None

    def _stop(self, reason: str) -> None:
        self.closed = True
        self.close_reason = reason
        self.pending.clear()
        self.pending_bytes = 0

    async def _gone_within(self, timeout: float) -> bool:
        """Whether the socket closes within `timeout` seconds.

        Polled: aiohttp tells nothing once its frame reader has failed.
        """
        loop = self.flusher.loop
        deadline = loop.time() + timeout
        while not self.transport.is_closing() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return self.transport.is_closing()


class Flusher:
    """Writes every connection marked dirty once per event-loop pass."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._dirty: list[Connection] = []
        self._scheduled = False
        self.loop = asyncio.get_running_loop()
        self.messages_out = 0

    def mark(self, conn: Connection) -> None:
        """Schedule `conn` for this pass's flush."""
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        # At most CHUNK sockets per callback, then yield to the loop: NATS acks and
        # new publications get in between, and arrive batched for the sockets after.
        dirty, self._dirty = self._dirty[:CHUNK], self._dirty[CHUNK:]
        now = time.monotonic()
        for conn in dirty:
            self.messages_out += len(conn.pending)
            conn.write_pending(now)
        if self._dirty:
            self.loop.call_soon(self._flush)
        else:
            self._scheduled = False
