"""The WebSocket endpoint `/ws`: authenticate, read frames, dispatch ops.

Reading and writing are decoupled: this handler only parses client frames and
starts work; every reply and publication leaves through the connection's
batched writer (hub/connection.py). Errors are answered with an `error`
frame carrying a stable code, and the connection goes on; unexpected
exceptions become `internal` and are logged once here, with context.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from bilten.hub.auth import authenticate, check_origin
from bilten.hub.connection import Connection
from bilten.hub.dispatch import execute
from bilten.hub.runtime import HUB, Hub
from bilten.infra.keyed_lock import KeyedLock
from bilten.protocol.channels import parse_channel
from bilten.protocol.errors import BiltenError, Internal, NotFound, RateLimited
from bilten.protocol.frames import (
    Ping,
    Rejected,
    Rpc,
    Subscribe,
    Unsubscribe,
    decode_client_frames,
    encode_error,
    encode_pong,
    encode_result,
    encode_unsubscribed,
)
from bilten.protocol.permissions import check_subscribe

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64
MAX_SUBSCRIPTIONS = 256


class TokenBucket:
    """Per-connection rate limit: `rate` messages per second with bursts of `burst`."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def _refuse(error: BiltenError) -> web.Response:
    return web.Response(status=error.http_status, content_type="application/json",
                        body=orjson.dumps({"error": error.to_wire()}))


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws?token=…: one client connection, from handshake to close."""
    hub = request.app[HUB]
    settings = hub.settings
    try:
        check_origin(request, settings)
        claims = authenticate(request, settings, allow_query=True)
    except BiltenError as error:
        return _refuse(error)
    ws = web.WebSocketResponse(compress=False, max_msg_size=settings.max_frame_bytes,
                               heartbeat=settings.ping_interval_s, autoping=True)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    conn = Connection(transport=transport, claims=claims,
                      flusher=hub.flusher, limit=settings.send_buffer_bytes)
    session = Session(hub, conn)
    hub.connections.add(conn)
    hub.metrics.ws_connects.inc()
    hub.metrics.ws_connections.inc()
    loop = asyncio.get_running_loop()
    expiry = loop.call_later(max(0.0, claims.exp - time.time()), conn.disconnect,
                             "token_expired", "access token expired")
    try:
        async for msg in ws:
            if conn.closed:
                break
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                session.on_frame(msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        expiry.cancel()
        hub.connections.discard(conn)
        hub.metrics.ws_connections.dec()
        hub.metrics.ws_disconnects.labels(conn.close_reason or "client").inc()
        conn.closed = True
        await session.close()
    return ws


class Session:
    """The ops of one connection: subscriptions, rpcs in flight, rate limit."""

    def __init__(self, hub: Hub, conn: Connection) -> None:
        self.hub = hub
        self.conn = conn
        self.bucket = TokenBucket(hub.settings.rate_limit_per_s, hub.settings.rate_limit_burst)
        self.tasks: set[asyncio.Task[None]] = set()
        self.events: dict[int, int] = {}  # event id -> subscriptions to its channels
        # Subscribe and unsubscribe of one channel run in the order they were sent.
        self.channel_locks = KeyedLock()

    def on_frame(self, data: str | bytes) -> None:
        """Parse one frame and start each message in it."""
        self.hub.metrics.ws_frames_in.inc()
        try:
            items = decode_client_frames(data)
        except BiltenError as error:
            # Garbage costs a token too, or a flood of it would go unanswered-for.
            self.conn.send(encode_error(None, error if self.bucket.take() else RateLimited(
                "too many messages; slow down")))
            return
        for item in items:
            if not self.bucket.take():
                self.conn.send(encode_error(getattr(item, "id", None),
                                            RateLimited("too many messages; slow down")))
                continue
            if isinstance(item, Rejected):
                self.conn.send(encode_error(item.id, item.error))
            elif isinstance(item, Ping):
                self.conn.send(encode_pong(item.id))
            elif len(self.tasks) >= MAX_IN_FLIGHT:
                self.conn.send(encode_error(item.id, RateLimited("too many requests in flight")))
            elif isinstance(item, Subscribe):
                self._start(item.id, self._in_order(item.channel, self._subscribe(item)))
            elif isinstance(item, Unsubscribe):
                self._start(item.id, self._in_order(item.channel, self._unsubscribe(item)))
            elif isinstance(item, Rpc):
                self._start(item.id, self._rpc(item))

    async def _in_order(self, channel: str, work: Awaitable[None]) -> None:
        async with self.channel_locks.hold(channel):
            await work

    def _start(self, req_id: int, work: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(req_id, work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guard(self, req_id: int, work: Awaitable[None]) -> None:
        try:
            await work
        except BiltenError as error:
            self.conn.send(encode_error(req_id, error))
        except Exception:
            log.exception("request failed", extra={"ctx": {"conn": self.conn.id, "id": req_id,
                                                           "sub": self.conn.claims.sub}})
            self.conn.send(encode_error(req_id, Internal()))

    async def _subscribe(self, frame: Subscribe) -> None:
        channel = parse_channel(frame.channel)
        claims = self.conn.claims
        org = None
        if channel.event_id is not None:
            org = await self.hub.owners.org_of(channel.event_id)
        check_subscribe(claims, channel, org)
        if len(self.conn.subs) >= MAX_SUBSCRIPTIONS:
            raise RateLimited(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        await self.hub.fanout.subscribe(self.conn, channel, frame.id, frame.since)
        if channel.event_id is not None and not self.conn.closed:
            count = self.events.get(channel.event_id, 0)
            self.events[channel.event_id] = count + 1
            if count == 0:
                self.hub.presence.join(channel.event_id, claims.role, claims.sub)

    async def _unsubscribe(self, frame: Unsubscribe) -> None:
        if not await self.hub.fanout.unsubscribe(self.conn, frame.channel):
            raise NotFound(f"not subscribed to {frame.channel}")
        self.conn.send(encode_unsubscribed(frame.id, frame.channel))
        await self._left(parse_channel(frame.channel).event_id)

    async def _left(self, event_id: int | None) -> None:
        if event_id is None or event_id not in self.events:
            return
        self.events[event_id] -= 1
        if self.events[event_id] == 0:
            del self.events[event_id]
            self.hub.presence.leave(event_id, self.conn.claims.role, self.conn.claims.sub)

    async def _rpc(self, frame: Rpc) -> None:
        result: Any = await execute(self.hub, self.conn.claims, frame.method, frame.params)
        self.conn.send(encode_result(frame.id, result))

    async def close(self) -> None:
        """Cancel work in flight and leave every channel and event."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.hub.fanout.drop(self.conn)
        for event_id in list(self.events):
            self.events[event_id] = 1
            await self._left(event_id)
