"""Channel history in JetStream: publish with exact offsets, read back for recovery.

docs/protocol.md §Recovery. Every publication goes to `<prefix>.in.<channel>`,
captured by the history stream, which republishes what it stored to
`<prefix>.ch.<channel>` for hubs. The channel's *offset* increases by exactly
one per publication and its *epoch* names one unbroken history; both travel in
headers and the last stored message of the subject holds the current pair.

Offsets stay exact with any number of publishers because each publish carries
`Nats-Expected-Last-Subject-Sequence`: JetStream stores it only if nobody
published to the channel since the publisher looked, otherwise the publisher
reloads the position and tries again. When a channel has no stored message
(new, or its whole history expired) the next publication starts a new epoch,
which tells recovering clients that history was lost.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext

from bilten.infra.channel_history import (
    Position,
    Stored,
    WrongLast,
    find_tagged,
    holds_since,
    last_position,
    new_epoch,
    read_range,
    store_after,
)
from bilten.infra.faults import faults_as_errors
from bilten.infra.keyed_lock import KeyedLock
from bilten.infra.publish_keys import Claim, PublishKeys
from bilten.protocol.errors import Conflict
from bilten.protocol.subjects import (
    Subjects,
)

# Tries at a contended channel: at least this many, and more while the timeout lasts
# (hubs publishing to one busy channel can each lose dozens of races in a row).
_MIN_ATTEMPTS = 20
_CACHE_SIZE = 10_000
MAX_BATCH = 256  # publications per stored message


@dataclass(slots=True)
class _Pending:
    """A publication waiting for its batch; keyed ones hold their key's claim."""

    data: bytes
    future: asyncio.Future[Position]
    key: str | None = None
    claim: Claim | None = None
    verified_at: int = 0  # the position load its claim is known to be current for


class ChannelLog:
    """Publishes to and reads from channel history; one per process."""

    def __init__(self, js: JetStreamContext, subjects: Subjects, *, timeout: float = 5.0) -> None:
        self._js = js
        self._subjects = subjects
        self._timeout = timeout
        self._keys = PublishKeys(js, subjects, timeout=timeout)
        # Each channel's position and the load it came from: a claim made before
        # that load may have been taken over meanwhile, so it is checked first.
        self._positions: OrderedDict[str, tuple[Position, int]] = OrderedDict()
        self._loads = itertools.count(1)
        self._mine: OrderedDict[str, Position] = OrderedDict()
        self._locks = KeyedLock()
        self._queued: dict[str, list[_Pending]] = {}
        self._draining: set[str] = set()  # channels with a drain task running
        self._tasks: set[asyncio.Task[None]] = set()

    async def position(self, channel: str) -> Position | None:
        """The channel's current position from the stream, or None if it has no history."""
        with faults_as_errors():
            return await last_position(self._js, self._subjects, channel)

    async def publish(self, channel: str, data: bytes, *, msg_id: str | None = None) -> Position:
        """Store one publication (JSON bytes) as the channel's next offset.

        Publications that queue up for a channel while one batch is being
        stored go out together as one JetStream message (group commit: one
        round trip and one fsync for all of them), each keeping its own offset.

        With `msg_id` (an outbox row, a client's idempotency key) a repeat
        within the duplicate window is stored once and answers the offset the
        first one got: the key is claimed first (infra/publish_keys.py), and
        the batch names the claim's tag.
        """
        with faults_as_errors():
            if msg_id is None:
                return await self._enqueue(channel, _Pending(data, self._future()))
            return await self._claimed(channel, data, msg_id)

    async def publish_keyed(
        self, channel: str, items: Sequence[tuple[bytes, str]]
    ) -> list[Position]:
        """Keyed publications of one channel (data, key), stored in the order given.

        The keys are claimed together (one round trip for all), then the
        publications queue in order, so they take consecutive offsets unless a
        repeat among them was stored before. A repeat may have to store its
        publication itself: it does so once those before it are stored, and
        those after it queue once it is.
        """
        with faults_as_errors():
            before = next(self._loads)
            claims = await asyncio.gather(*(self._keys.claim(key) for _data, key in items))
            done: list[Position] = []
            waits: list[Awaitable[Position]] = []
            for (data, key), claim in zip(items, claims, strict=True):
                if claim is None:
                    done += await asyncio.gather(*waits)
                    waits = []
                    done.append(await self._repeat(channel, data, key))
                else:
                    pending = _Pending(data, self._future(), key, claim, before)
                    self._queue(channel, pending)
                    waits.append(pending.future)
            return done + list(await asyncio.gather(*waits))

    async def _claimed(self, channel: str, data: bytes, key: str) -> Position:
        """Claim `key`, then publish in a batch; a repeat of the key goes to `_repeat`."""
        # Loads from now on may have seen the claim taken over: the batch checks it after those.
        before = next(self._loads)
        claim = await self._keys.claim(key)
        if claim is None:
            return await self._repeat(channel, data, key)
        return await self._enqueue(channel, _Pending(data, self._future(), key, claim, before))

    def _tries(self) -> Iterator[int]:
        """Count the tries of one publication: `_MIN_ATTEMPTS`, then on until the timeout."""
        deadline = time.monotonic() + self._timeout
        for n in itertools.count():
            if n >= _MIN_ATTEMPTS and time.monotonic() > deadline:
                return
            yield n

    @staticmethod
    def _future() -> asyncio.Future[Position]:
        return asyncio.get_running_loop().create_future()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _queue(self, channel: str, pending: _Pending) -> None:
        self._queued.setdefault(channel, []).append(pending)
        if channel not in self._draining:
            self._draining.add(channel)
            self._spawn(self._drain(channel))

    async def _enqueue(self, channel: str, pending: _Pending) -> Position:
        self._queue(channel, pending)
        return await pending.future

    async def _drain(self, channel: str) -> None:
        """Store everything queued for `channel`, a batch per round trip.

        The channel's lock is held per batch, not for the whole drain: a repeat
        waiting for it (`_repeat`) gets its turn however steadily publications
        keep arriving.
        """
        try:
            while True:
                async with self._locks.hold(channel):
                    queue = self._queued.pop(channel, [])
                    if not queue:
                        self._draining.discard(channel)
                        return
                    batch, rest = queue[:MAX_BATCH], queue[MAX_BATCH:]
                    if rest:
                        self._queued[channel] = rest + self._queued.get(channel, [])
                    await self._commit(channel, batch)
        finally:
            self._draining.discard(channel)

    async def _commit(self, channel: str, batch: list[_Pending]) -> None:
        """Store one batch and answer each of its publications."""
        try:
            stored, last = await self._store(channel, batch)
        except BaseException as error:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        first = last.offset - len(stored) + 1
        for n, pending in enumerate(stored):
            if not pending.future.done():
                stored_at = Position(last.epoch, first + n, last.seq)
                self._stored(pending.key, stored_at)
                pending.future.set_result(stored_at)

    async def _store(self, channel: str, batch: list[_Pending]) -> tuple[list[_Pending], Position]:
        """Store `batch` (less the keys taken over meanwhile) as the channel's next message."""
        for _ in self._tries():
            last, loaded = await self._current(channel)
            stale = [p for p in batch if p.claim is not None and p.verified_at < loaded]
            if stale:
                owned = await self._keys.owned([(p.key or "", p.claim) for p in stale if p.claim])
                for pending, ok in zip(stale, owned, strict=True):
                    pending.verified_at = loaded
                    if not ok:  # a repeat took the key over: it answers for this one
                        batch.remove(pending)
                        self._spawn(self._settle(channel, pending))
            if not batch:
                return [], last
            try:
                return batch, await self._attempt(channel, batch, last, loaded)
            except WrongLast:
                continue
        raise Conflict(f"channel {channel} is contended; gave up after {self._timeout:g} s")

    async def _settle(self, channel: str, pending: _Pending) -> None:
        """Answer a publication whose key a repeat took over with what the key got."""
        try:
            with faults_as_errors():
                pending.future.set_result(
                    await self._repeat(channel, pending.data, pending.key or "")
                )
        except Exception as error:
            if not pending.future.done():
                pending.future.set_exception(error)

    async def _current(self, channel: str) -> tuple[Position, int]:
        """The channel's position as this process knows it, loaded if it does not."""
        known = self._positions.get(channel)
        if known is not None:
            return known
        last = await self.position(channel) or Position(new_epoch(), 0, 0)
        loaded = next(self._loads)
        self._remember(channel, last, loaded)
        return last, loaded

    async def _repeat(self, channel: str, data: bytes, key: str) -> Position:
        """A key claimed before: where its publication went, or store it now if it never was."""
        for _ in self._tries():
            if (mine := self._mine.get(key)) is not None:  # stored by this process
                return mine
            marker = await self._keys.read(key)
            if marker is None:  # the claim expired meanwhile: this is a new publication
                before = next(self._loads)
                claim = await self._keys.claim(key)
                if claim is not None:
                    return await self._enqueue(
                        channel, _Pending(data, self._future(), key, claim, before)
                    )
                continue  # its id is still known though its claim is gone (a purge): try again
            async with self._locks.hold(channel):
                last = await self.position(channel)
                found = (
                    None
                    if last is None
                    else await find_tagged(
                        self._js, self._subjects, channel, marker, last, timeout=self._timeout
                    )
                )
                if found is not None:
                    return found
                if not await holds_since(self._js, self._subjects, channel, marker.since):
                    # It may be stored, in messages the channel's size limit dropped since.
                    raise Conflict(
                        "the publication with this key may be stored already: the channel's"
                        " history no longer reaches back to its first attempt",
                        reason="beyond_history",
                    )
                claim = await self._keys.take_over(key, marker)
                if claim is None:  # another repeat took it over first
                    continue
                pending = _Pending(data, self._future(), key, claim)
                try:
                    # Exactly after `last`: the first attempt can never be stored after this.
                    start = last or Position(new_epoch(), 0, 0)
                    position = await self._attempt(channel, [pending], start, next(self._loads))
                except WrongLast:
                    continue
                self._stored(key, position)
                return position
        raise Conflict(f"channel {channel} is contended; gave up after {self._timeout:g} s")

    async def close(self) -> None:
        """Cancel batches still being stored (their publishers see CancelledError)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _attempt(
        self, channel: str, items: list[_Pending], last: Position, loaded: int
    ) -> Position:
        """Store `items` as the one message after `last`; `WrongLast` if it is not the last."""
        tags = [(n, p.claim.tag) for n, p in enumerate(items) if p.claim is not None]
        try:
            seq = await store_after(
                self._js,
                self._subjects,
                channel,
                [p.data for p in items],
                tags,
                last,
                timeout=self._timeout,
            )
        except BaseException:
            # Stale (someone else published: WrongLast) or unknown (a timed-out
            # message may still be stored): reload before the next attempt.
            self._positions.pop(channel, None)
            raise
        position = Position(last.epoch, last.offset + len(items), seq)
        self._remember(channel, position, loaded)
        return position

    def _stored(self, key: str | None, position: Position) -> None:
        """Remember where this process stored a keyed publication: its repeats need no lookup."""
        if key is not None:
            self._mine[key] = position
            if len(self._mine) > _CACHE_SIZE:
                self._mine.popitem(last=False)

    def _remember(self, channel: str, position: Position, loaded: int) -> None:
        self._positions[channel] = (position, loaded)
        self._positions.move_to_end(channel)
        if len(self._positions) > _CACHE_SIZE:
            self._positions.popitem(last=False)

    async def read_after(
        self, channel: str, epoch: str, offset: int, until: Position
    ) -> list[Stored] | None:
        """Publications after `offset` up to `until`, or None if history can't cover them.

        None when the epoch differs (history was lost), the client claims an
        offset beyond the channel's, or the oldest retained publication is
        already past `offset + 1`.
        """
        if offset > until.offset or (epoch != until.epoch and not (epoch == "" and offset == 0)):
            return None  # "" at 0 is a client that saw the channel empty: any epoch fits
        if offset == until.offset:
            return []
        with faults_as_errors():
            return await read_range(
                self._js, self._subjects, channel, offset, until, timeout=self._timeout
            )
