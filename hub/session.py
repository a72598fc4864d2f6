"""The ops of one WebSocket connection: subscribe, unsubscribe, rpc, and their limits.

hub/reader.py reads the frames; a `Session` parses them and starts each message
as a task of its own, replying through the connection's batched writer
(hub/connection.py). Errors are answered with an `error` frame carrying a
stable code, and the connection goes on; unexpected exceptions become
`internal` and are logged once here, with context. Two kinds of client are cut
off instead (docs/protocol.md §Disconnect codes): one that keeps flooding past
its rate limit (`rate_limited`), and one that keeps sending invalid messages
(`protocol_error`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from bilten.hub.connection import Connection
from bilten.hub.dispatch import execute
from bilten.hub.runtime import Hub
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
# Messages rejected for the rate draw on a flood allowance of FLOOD_FACTOR bursts,
# refilled at half the rate: a client may overshoot in spikes, or by half its rate
# for good, but one that sends far more than it is allowed is disconnected.
FLOOD_FACTOR = 4
MAX_INVALID_IN_A_ROW = 10  # invalid messages with no valid one between: a broken client


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


class Session:
    """The ops of one connection: subscriptions, rpcs in flight, rate limit.

    Thousands of these sit idle on a hub, so each is slotted, and its task set
    and channel locks exist only while work is in flight, its flood allowance
    only once a message was rejected for the rate.
    """

    __slots__ = ("_channel_locks", "_flood", "bucket", "conn", "events", "hub", "invalid", "tasks")

    def __init__(self, hub: Hub, conn: Connection) -> None:
        self.hub = hub
        self.conn = conn
        self.bucket = TokenBucket(hub.settings.rate_limit_per_s, hub.settings.rate_limit_burst)
        self._flood: TokenBucket | None = None
        self.invalid = 0  # invalid messages since the last valid one
        self.tasks: set[asyncio.Task[None]] | None = None
        self.events: dict[int, int] = {}  # event id -> subscriptions to its channels
        self._channel_locks: KeyedLock | None = None

    @property
    def flood(self) -> TokenBucket:
        """The flood allowance; until a message is rejected for the rate it stays full."""
        if self._flood is None:
            rate, burst = self.hub.settings.rate_limit_per_s, self.hub.settings.rate_limit_burst
            self._flood = TokenBucket(rate / 2, FLOOD_FACTOR * burst)
        return self._flood

    @property
    def channel_locks(self) -> KeyedLock:
        """Subscribe and unsubscribe of one channel run in the order they were sent."""
        if self._channel_locks is None:
            self._channel_locks = KeyedLock()
        return self._channel_locks

    def on_frame(self, data: str | bytes) -> None:
        """Parse one frame and start each message in it."""
        self.hub.metrics.ws_frames_in.inc()
        try:
            items = decode_client_frames(data)
        except BiltenError as error:
            # Garbage costs a token too, or a flood of it would go unanswered-for.
            if self._admit(None):
                self._invalid(None, error)
            return
        for item in items:
            if self.conn.closed or self.conn.leaving or not self._admit(item.id):
                continue  # leaving: unread, so the client sends it again elsewhere
            if isinstance(item, Rejected):
                self._invalid(item.id, item.error)
                continue
            self.invalid = 0
            if isinstance(item, Ping):
                self.conn.send(encode_pong(item.id))
            elif self.tasks is not None and len(self.tasks) >= MAX_IN_FLIGHT:
                self.conn.send(encode_error(item.id, RateLimited("too many requests in flight")))
            elif isinstance(item, Subscribe):
                if not self._subscribe_at_once(item):
                    self._start(item.id, self._in_order(item.channel, self._subscribe(item)))
            elif isinstance(item, Unsubscribe):
                self._start(item.id, self._in_order(item.channel, self._unsubscribe(item)))
            elif isinstance(item, Rpc):
                self._start(item.id, self._rpc(item))

    def _admit(self, req_id: int | None) -> bool:
        """Take a token for one message; else answer `rate_limited`, or cut off a flood."""
        if self.bucket.take():
            return True
        if self.flood.take():
            self.conn.send(encode_error(req_id, RateLimited("too many messages; slow down")))
        else:
            self.conn.disconnect("rate_limited", "too many messages for too long")
        return False

    def _invalid(self, req_id: int | None, error: BiltenError) -> None:
        """Answer an invalid message; the MAX_INVALID_IN_A_ROW-th in a row closes the connection."""
        self.conn.send(encode_error(req_id, error))
        self.invalid += 1
        if self.invalid >= MAX_INVALID_IN_A_ROW:
            self.conn.disconnect("protocol_error", f"{self.invalid} invalid messages in a row")

    async def _in_order(self, channel: str, work: Awaitable[None]) -> None:
        locks = self.channel_locks
        try:
            async with locks.hold(channel):
                await work
        finally:
            if not locks and self._channel_locks is locks:
                self._channel_locks = None  # nobody holds or waits: the next op makes a new one

    def _start(self, req_id: int, work: Awaitable[None]) -> None:
        if self.tasks is None:
            self.tasks = set()
        task = asyncio.get_running_loop().create_task(self._guard(req_id, work))
        self.tasks.add(task)
        self.conn.requests += 1
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.conn.requests -= 1
        if self.tasks is not None:
            self.tasks.discard(task)
            if not self.tasks:
                self.tasks = None

    async def _guard(self, req_id: int, work: Awaitable[None]) -> None:
        try:
            await work
        except BiltenError as error:
            self.conn.send(encode_error(req_id, error))
        except Exception:
            log.exception(
                "request failed",
                extra={"ctx": {"conn": self.conn.id, "id": req_id, "sub": self.conn.claims.sub}},
            )
            self.conn.send(encode_error(req_id, Internal()))

    def _subscribe_at_once(self, frame: Subscribe) -> bool:
        """Subscribe without a task when nothing needs waiting for; False leaves it to one.

        The common connect (a known event, a live feed, no history, no
        snapshot, no other op in flight on this connection) is answered in
        this loop pass. Anything else, errors included, takes the ordinary
        path, which gives the same answer.
        """
        if self._channel_locks is not None or len(self.conn.subs) >= MAX_SUBSCRIPTIONS:
            return False
        try:
            channel = parse_channel(frame.channel)
            org = None
            if channel.event_id is not None:
                org = self.hub.owners.known(channel.event_id)
                if org is None:
                    return False
            check_subscribe(self.conn.claims, channel, org)
        except BiltenError:
            return False
        if not self.hub.fanout.subscribe_at_once(self.conn, channel, frame.id, frame.since):
            return False
        self._joined(channel.event_id)
        return True

    async def _subscribe(self, frame: Subscribe) -> None:
        channel = parse_channel(frame.channel)
        org = None
        if channel.event_id is not None:
            org = await self.hub.owners.org_of(channel.event_id)
        check_subscribe(self.conn.claims, channel, org)
        if len(self.conn.subs) >= MAX_SUBSCRIPTIONS:
            raise RateLimited(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        await self.hub.fanout.subscribe(self.conn, channel, frame.id, frame.since)
        self._joined(channel.event_id)

    def _joined(self, event_id: int | None) -> None:
        """Count a subscription to the event's channels; the first makes the user present."""
        if event_id is not None and not self.conn.closed:
            count = self.events.get(event_id, 0)
            self.events[event_id] = count + 1
            if count == 0:
                claims = self.conn.claims
                self.hub.presence.join(event_id, claims.role, claims.sub)

    async def _unsubscribe(self, frame: Unsubscribe) -> None:
        channel = parse_channel(frame.channel)  # a malformed name is `bad_channel`
        if not await self.hub.fanout.unsubscribe(self.conn, frame.channel):
            raise NotFound(f"not subscribed to {frame.channel}")
        self.conn.send(encode_unsubscribed(frame.id, frame.channel))
        await self._left(channel.event_id)

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
        if self.tasks:
            running = list(self.tasks)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        await self.hub.fanout.drop(self.conn)
        for event_id in list(self.events):
            self.events[event_id] = 1
            await self._left(event_id)
