"""One subscription of the SDK: its position in the channel, its bounded queue, its iterator.

docs/protocol.md §Recovery. A subscription remembers the epoch of the latest
`subscribed` and the offset of the latest publication it accepted, resumes
from there after a reconnect, and drops any publication at or below that
offset, so its consumer sees each publication once, in order. The position
rules are plain methods (no I/O), so they are tested without a hub.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bilten.protocol.errors import Conflict
from bilten.protocol.frames import Pub, Since, Subscribed, encode_subscribe

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 10_000


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

    def __init__(self, channel: str, maxsize: int,
                 unsubscribe: Callable[[Subscription, float], Awaitable[None]]) -> None:
        self.channel = channel
        self.snapshot: Any = None  # from the first `subscribed`; later ones come in RecoveryFailed
        self.request_id: int | None = None  # of the latest `subscribe` sent for it
        self.active = False  # confirmed once by the hub: resubscribe it after a reconnect
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

    def since(self) -> Since:
        """Where to resume from when subscribing again."""
        if self._epoch == "" and self._offset > 0:
            # The channel was empty when we subscribed and no `subscribed` has told us the
            # epoch its publications opened. "Seen empty" recovers from offset 1 in any
            # epoch; on_subscribed and on_pub then drop what we already have.
            return Since(0, "")
        return Since(self._offset, self._epoch)

    def on_subscribed(self, frame: Subscribed) -> RecoveryFailed | None:
        """Apply a `subscribed` (a reply or unsolicited); return what to tell the consumer.

        recovered: the missed publications follow, so the position stays. Not
        recovered: the frame's offset and epoch are the new position; for a
        subscription that had one, the consumer learns it through RecoveryFailed.
        """
        if frame.recovered and frame.offset >= self._offset:
            self._epoch = frame.epoch
            self.active = True
            return None
        # Recovered yet behind us can only answer Since(0, ""): the channel restarted in
        # another epoch, so what we hold is not what follows. Treat it as lost history.
        first = not self.active
        self.active = True
        self._epoch, self._offset = frame.epoch, frame.offset
        if first:
            self.snapshot = frame.snapshot
            return None
        return RecoveryFailed(self.channel, frame.offset, frame.epoch, frame.snapshot)

    def on_pub(self, frame: Pub) -> Publication | None:
        """Advance past a publication; None for one already seen (or before `subscribed`)."""
        if not self.active or frame.offset <= self._offset:
            return None
        if frame.offset != self._offset + 1:
            log.warning("gap on %s: offset %d after %d", self.channel, frame.offset,
                        self._offset, extra={"ctx": {"channel": self.channel}})
        self._offset = frame.offset
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


class Subscriptions:
    """One client's subscriptions by channel, and how the hub's frames apply to them."""

    def __init__(self) -> None:
        self._by_channel: dict[str, Subscription] = {}
        self._resubscribing: dict[int, Subscription] = {}

    def add(self, sub: Subscription) -> None:
        """Register a new subscription (one per channel, as on the hub)."""
        if sub.channel in self._by_channel:
            raise Conflict(f"already subscribed to {sub.channel}")
        self._by_channel[sub.channel] = sub

    def discard(self, sub: Subscription) -> bool:
        """Forget `sub`; whether it was registered."""
        if self._by_channel.get(sub.channel) is not sub:
            return False
        del self._by_channel[sub.channel]
        return True

    def resubscribe(self, ids: Iterator[int]) -> list[bytes]:
        """`subscribe` frames with `since` for every subscription the hub had confirmed."""
        frames = []
        for sub in self._by_channel.values():
            if sub.active:
                sub.request_id = next(ids)
                self._resubscribing[sub.request_id] = sub
                frames.append(encode_subscribe(sub.request_id, sub.channel, sub.since()))
        return frames

    def take_resubscribe(self, req_id: int | None) -> Subscription | None:
        """The subscription a reply with `req_id` answers, if it is a resubscribe."""
        return self._resubscribing.pop(req_id, None) if req_id is not None else None

    def connection_lost(self) -> None:
        """Resubscribes in flight will get no reply."""
        self._resubscribing.clear()

    def on_subscribed(self, frame: Subscribed) -> tuple[Subscription, RecoveryFailed | None] | None:
        """Apply a `subscribed` to its subscription; None when no live one awaits it."""
        sub = self._by_channel.get(frame.channel)
        if frame.id is not None:
            self._resubscribing.pop(frame.id, None)
            if sub is not None and sub.request_id != frame.id:
                return None  # the answer to a subscribe its caller gave up on
        return None if sub is None else (sub, sub.on_subscribed(frame))

    async def on_pub(self, frame: Pub) -> None:
        """Queue a publication on its subscription (waiting while the queue is full)."""
        sub = self._by_channel.get(frame.channel)
        item = sub.on_pub(frame) if sub is not None else None
        if sub is not None and item is not None:
            await sub.put(item)

    def close_all(self, error: BaseException | None) -> None:
        """End every subscription (see `Subscription.close`)."""
        for sub in self._by_channel.values():
            sub.close(error)
        self._by_channel.clear()
        self._resubscribing.clear()
