"""The SDK's session state: subscriptions (position, bounded queue, iterator) and replies.

docs/protocol.md §Recovery. A subscription remembers the epoch of the latest
`subscribed` and the offset of the latest publication it accepted, resumes
from there after a reconnect, and drops any publication at or below that
offset, so its consumer sees each publication once, in order; the rules are
protocol/recovery.py's, the same the hub follows. Nothing here
does I/O: clients/sdk.py owns the socket and feeds `Session.on_frame`, so the
position rules are tested without a hub.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bilten.protocol import errors, frames
from bilten.protocol.recovery import Position, after_subscribed, classify

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 10_000
# Resubscribe failures that a new connection may well not meet again.
_PASSING = (errors.RateLimited, errors.Unavailable, errors.Timeout, errors.Internal)


@dataclass(frozen=True, slots=True)
class Publication:
    """One publication on a subscribed channel (`offset` grows by 1 per publication)."""

    channel: str
    offset: int
    data: Any


@dataclass(frozen=True, slots=True)
class RecoveryFailed:
    """The hub could not deliver what this subscription missed; it goes on from `offset`.

    Publications up to `offset` (in `epoch`) are lost to the consumer. On a
    stateful channel `snapshot` is the state at `offset` when the hub sent one;
    when it is None there, unsubscribe and subscribe again for a fresh one.
    """

    channel: str
    offset: int
    epoch: str
    snapshot: Any


Item = Publication | RecoveryFailed


class Subscription:
    """A channel's publications as an async iterator; get one from `BiltenClient.subscribe`.

    Iteration yields `Publication` and `RecoveryFailed` items. It ends after
    `unsubscribe()` or when the client is closed by its owner, and raises the
    error when the subscription ends otherwise (the hub refused it on a
    resubscribe, or the connection cannot be restored). Items already queued
    are delivered before that error.
    """

    def __init__(
        self,
        channel: str,
        maxsize: int,
        unsubscribe: Callable[[Subscription, float], Awaitable[None]],
    ) -> None:
        self.channel = channel
        self.snapshot: Any = None  # from the first `subscribed`; later ones come in RecoveryFailed
        self.request_id: int | None = None  # of the latest `subscribe` sent for it
        self.active = False  # confirmed once by the hub: resubscribe it after a reconnect
        self.recoveries = 0  # resubscribes the hub answered `recovered: true`: nothing lost
        self._epoch = ""
        self._offset = 0
        self._maxsize = maxsize
        self._unsubscribe = unsubscribe
        self._items: deque[Item] = deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._closed = False
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<Subscription {self.channel} at {self._epoch or '-'}:{self._offset}>"

    @property
    def epoch(self) -> str:
        """The epoch of the channel history this subscription follows ("" before any)."""
        return self._epoch

    @property
    def offset(self) -> int:
        """The offset of the last publication accepted (or of the last `subscribed`)."""
        return self._offset

    @property
    def position(self) -> Position:
        """Where the subscription stands (docs/protocol.md §Recovery)."""
        return Position(self._epoch, self._offset)

    @property
    def queued(self) -> int:
        """How many items wait to be read."""
        return len(self._items)

    @property
    def closed(self) -> bool:
        """Whether the subscription has ended (items may still be queued)."""
        return self._closed

    async def unsubscribe(self, timeout: float = 10.0) -> None:
        """Stop the subscription; iteration ends and queued items are discarded."""
        await self._unsubscribe(self, timeout)

    # --- position (docs/protocol.md §Recovery) ---

    def since(self) -> frames.Since:
        """Where to resume from when subscribing again."""
        return frames.Since(self._offset, self._epoch)

    def on_subscribed(self, frame: frames.Subscribed) -> RecoveryFailed | None:
        """Apply a `subscribed` (a reply or unsolicited); return what to tell the consumer.

        recovered: the missed publications follow, so the position stays. Not
        recovered: the frame's offset and epoch are the new position; for a
        subscription that had one, the consumer learns it through RecoveryFailed.
        """
        first = not self.active
        self.active = True
        position = after_subscribed(self.position, frame.epoch, frame.offset, frame.recovered)
        self._epoch, self._offset = position.epoch, position.offset
        if frame.recovered:
            self.recoveries += 1
            return None
        if first:
            self.snapshot = frame.snapshot
            return None
        return RecoveryFailed(self.channel, frame.offset, frame.epoch, frame.snapshot)

    def on_pub(self, frame: frames.Pub) -> Publication | None:
        """Advance past a publication; None for one already seen (or before `subscribed`)."""
        if not self.active:
            return None
        step = classify(self.position, frame.epoch, frame.offset)
        if step == "duplicate":
            return None
        if step == "gap":
            log.warning(
                "gap on %s: offset %d after %d",
                self.channel,
                frame.offset,
                self.offset,
                extra={"ctx": {"channel": self.channel}},
            )
        elif step == "new_epoch":  # the hub resyncs with `subscribed` first; follow anyway
            log.warning(
                "epoch of %s changed from %s to %s without a resync",
                self.channel,
                self.epoch,
                frame.epoch,
                extra={"ctx": {"channel": self.channel}},
            )
        self._epoch, self._offset = frame.epoch, frame.offset
        return Publication(self.channel, frame.offset, frame.data)

    # --- the bounded queue ---

    async def put(self, item: Item) -> None:
        """Queue an item, waiting while the queue is full (this pauses the socket reader)."""
        while len(self._items) >= self._maxsize and not self._closed:
            self._writable.clear()
            await self._writable.wait()
        if not self._closed:
            self._items.append(item)
            self._readable.set()

    def close(self, error: BaseException | None = None) -> None:
        """End the subscription: with `error`, after the queued items; without, at once."""
        if self._closed:
            return
        self._closed = True
        self.active = False
        self._error = error
        if error is None:
            self._items.clear()
        self._readable.set()
        self._writable.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Item:
        while not self._items:
            if self._closed:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        self._writable.set()
        return item


class Session:
    """What a client knows between frames: its subscriptions and the requests awaiting replies.

    No I/O: the client feeds it each frame from the hub (`on_frame`) and tells
    it when a connection is lost; it resolves replies and queues items.
    """

    def __init__(self) -> None:
        self.disconnect: frames.Disconnect | None = None  # the current socket's last words
        self._subs: dict[str, Subscription] = {}
        self._pending: dict[int, asyncio.Future[frames.ServerFrame]] = {}
        self._resubscribing: dict[int, Subscription] = {}

    def add(self, sub: Subscription) -> None:
        """Register a new subscription (one per channel, as on the hub)."""
        if sub.channel in self._subs:
            raise errors.Conflict(f"already subscribed to {sub.channel}")
        self._subs[sub.channel] = sub

    def discard(self, sub: Subscription) -> bool:
        """Forget `sub`; whether it was registered."""
        if self._subs.get(sub.channel) is not sub:
            return False
        del self._subs[sub.channel]
        return True

    def expect(self, req_id: int) -> asyncio.Future[frames.ServerFrame]:
        """A future for the reply to request `req_id`; `forget` it when done."""
        future = self._pending[req_id] = asyncio.get_running_loop().create_future()
        return future

    def forget(self, req_id: int) -> None:
        """Stop waiting for the reply to `req_id`."""
        self._pending.pop(req_id, None)

    def resubscribe(self, ids: Iterator[int]) -> list[bytes]:
        """`subscribe` frames with `since` for every subscription the hub had confirmed."""
        encoded = []
        for sub in self._subs.values():
            if sub.active:
                sub.request_id = next(ids)
                self._resubscribing[sub.request_id] = sub
                encoded.append(frames.encode_subscribe(sub.request_id, sub.channel, sub.since()))
        return encoded

    async def on_frame(self, frame: frames.ServerFrame) -> errors.BiltenError | None:
        """Apply one frame from the hub; return a resubscribe's passing failure, if any.

        Such a failure (rate_limited, unavailable, …) is worth a new connection;
        any other one ends that subscription with the error. Waits while the
        frame's subscription queue is full.
        """
        if isinstance(frame, frames.Pub):
            sub = self._subs.get(frame.channel)
            if sub is not None and (item := sub.on_pub(frame)) is not None:
                await sub.put(item)
        elif isinstance(frame, frames.Subscribed):
            sub = self._subs.get(frame.channel)
            if frame.id is not None:
                self._resubscribing.pop(frame.id, None)
                if sub is not None and sub.request_id != frame.id:
                    sub = None  # the answer to a subscribe its caller gave up on
            failed = sub.on_subscribed(frame) if sub is not None else None
            self._resolve(frame.id, frame)  # subscribe() returns once the position is set
            if sub is not None and failed is not None:
                await sub.put(failed)
        elif isinstance(frame, frames.Disconnect):
            log.info("hub disconnects: %s (%s)", frame.code, frame.reason)
            self.disconnect = frame
        elif isinstance(frame, frames.Error) and frame.id in self._resubscribing:
            sub = self._resubscribing.pop(frame.id)
            if isinstance(frame.error, _PASSING):
                return frame.error
            self.discard(sub)
            sub.close(frame.error)  # e.g. forbidden: the token no longer reaches the event
        elif isinstance(frame, frames.Error) and frame.id is None:
            log.warning("hub reports an error: %s", frame.error)
        else:
            self._resolve(frame.id, frame)
        return None

    def _resolve(self, req_id: int | None, frame: frames.ServerFrame) -> None:
        future = self._pending.get(req_id) if req_id is not None else None
        if future is not None and not future.done():
            future.set_result(frame)

    def connection_lost(self, error: errors.BiltenError) -> None:
        """Fail every request awaiting a reply with `error` (the client may send it again)."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._resubscribing.clear()

    def close(self, error: errors.BiltenError, *, end: BaseException | None) -> None:
        """Closed for good: requests fail with `error`, subscriptions end (raising `end`)."""
        self.connection_lost(error)
        for sub in self._subs.values():
            sub.close(end)
        self._subs.clear()
