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
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from bilten.infra.faults import faults_as_errors
from bilten.infra.keyed_lock import KeyedLock
from bilten.protocol.batch import pack, publications
from bilten.protocol.errors import Conflict, Unavailable
from bilten.protocol.subjects import (
    HDR_COUNT,
    HDR_EPOCH,
    HDR_EXPECTED_LAST_SUBJECT_SEQUENCE,
    HDR_MSG_ID,
    HDR_OFFSET,
    Subjects,
)

# JetStream's error code for "wrong last sequence" (expected-last-subject-sequence failed).
_WRONG_LAST_SEQUENCE = 10071
_MAX_ATTEMPTS = 20
_CACHE_SIZE = 10_000
MAX_BATCH = 256  # publications per stored message


@dataclass(frozen=True, slots=True)
class Position:
    """Where a channel stands: its epoch, last offset, and that message's stream seq."""

    epoch: str
    offset: int
    seq: int


@dataclass(frozen=True, slots=True)
class Stored:
    """One publication read back from history."""

    offset: int
    epoch: str
    data: bytes


def new_epoch() -> str:
    """A fresh epoch name (8 hex characters)."""
    return secrets.token_hex(4)


class ChannelLog:
    """Publishes to and reads from channel history; one per process."""

    def __init__(self, js: JetStreamContext, subjects: Subjects, *, timeout: float = 5.0) -> None:
        self._js = js
        self._subjects = subjects
        self._timeout = timeout
        self._positions: OrderedDict[str, Position] = OrderedDict()
        self._locks = KeyedLock()
        self._queued: dict[str, list[tuple[bytes, asyncio.Future[Position]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def position(self, channel: str) -> Position | None:
        """The channel's current position from the stream, or None if it has no history."""
        try:
            with faults_as_errors():
                msg = await self._js.get_last_msg(
                    self._subjects.history_stream, self._subjects.publish(channel), direct=True
                )
        except NotFoundError:
            return None
        headers = msg.headers or {}
        count = int(headers.get(HDR_COUNT, "1"))
        return Position(
            headers.get(HDR_EPOCH, ""), int(headers.get(HDR_OFFSET, "0")) + count - 1, msg.seq or 0
        )

    async def publish(self, channel: str, data: bytes, *, msg_id: str | None = None) -> Position:
        """Store one publication (JSON bytes) as the channel's next offset.

        Publications that queue up for a channel while one is being stored go
        out together as one JetStream message (group commit: one round trip
        and one fsync for all of them), each keeping its own offset.

        With `msg_id` (an outbox row, a client's idempotency key) the
        publication goes alone, as the JetStream message id: a repeat within
        the stream's duplicate window (a retry after a crash or after an
        `unavailable` answer) is stored once and answers the offset the first
        one got. Batching those would need one message id per publication,
        which JetStream does not have; the high-rate publications (the
        workers' seat deltas) carry no id and keep batching.
        """
        with faults_as_errors():
            if msg_id is not None:
                async with self._locks.hold(channel):
                    return await self._publish_locked(channel, [data], msg_id)
            future: asyncio.Future[Position] = asyncio.get_running_loop().create_future()
            queue = self._queued.setdefault(channel, [])
            queue.append((data, future))
            if len(queue) == 1:
                task = asyncio.get_running_loop().create_task(self._drain(channel))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return await future

    async def _drain(self, channel: str) -> None:
        """Store everything queued for `channel`, a batch per round trip."""
        async with self._locks.hold(channel):
            while queue := self._queued.pop(channel, []):
                batch, rest = queue[:MAX_BATCH], queue[MAX_BATCH:]
                if rest:
                    self._queued[channel] = rest + self._queued.get(channel, [])
                try:
                    last = await self._publish_locked(channel, [d for d, _ in batch], None)
                except BaseException as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                first = last.offset - len(batch) + 1
                for n, (_, future) in enumerate(batch):
                    if not future.done():
                        future.set_result(Position(last.epoch, first + n, last.seq))

    async def close(self) -> None:
        """Cancel batches still being stored (their publishers see CancelledError)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _publish_locked(
        self, channel: str, items: list[bytes], msg_id: str | None
    ) -> Position:
        subject = self._subjects.publish(channel)
        data = items[0] if len(items) == 1 else pack(items)
        for _ in range(_MAX_ATTEMPTS):
            last = self._positions.get(channel)
            if last is None:
                last = await self.position(channel) or Position(new_epoch(), 0, 0)
            headers = {
                HDR_OFFSET: str(last.offset + 1),
                HDR_EPOCH: last.epoch,
                HDR_EXPECTED_LAST_SUBJECT_SEQUENCE: str(last.seq),
            }
            if len(items) > 1:
                headers[HDR_COUNT] = str(len(items))
            if msg_id is not None:
                headers[HDR_MSG_ID] = msg_id
            try:
                ack = await self._js.publish(subject, data, timeout=self._timeout, headers=headers)
            except APIError as error:
                self._positions.pop(channel, None)  # stale (someone else published): reload
                if error.err_code != _WRONG_LAST_SEQUENCE:
                    raise Unavailable(f"history store refused the publication: {error}") from None
                continue
            except NatsTimeout:
                # It may still be stored (NATS resends after a reconnect): the message
                # id, when there is one, makes the client's retry find it.
                self._positions.pop(channel, None)
                raise Unavailable("history store did not acknowledge in time") from None
            except Exception:
                self._positions.pop(channel, None)
                raise
            if ack.duplicate:  # stored before: answer what the first one got
                self._positions.pop(channel, None)
                return await self._stored_at(channel, ack.seq)
            position = Position(last.epoch, last.offset + len(items), ack.seq)
            self._remember(channel, position)
            return position
        raise Conflict(f"channel {channel} is contended; gave up after {_MAX_ATTEMPTS} tries")

    async def _stored_at(self, channel: str, seq: int) -> Position:
        """The position of the (single) publication stored at stream sequence `seq`.

        If history no longer holds it, the channel's current position, which
        is the best a late retry can learn.
        """
        try:
            msg = await self._js.get_msg(self._subjects.history_stream, seq, direct=True)
        except NotFoundError:
            return await self.position(channel) or Position(new_epoch(), 0, 0)
        headers = msg.headers or {}
        return Position(headers.get(HDR_EPOCH, ""), int(headers.get(HDR_OFFSET, "0")), seq)

    def _remember(self, channel: str, position: Position) -> None:
        self._positions[channel] = position
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
            return await self._read(channel, offset, until)

    async def _read(self, channel: str, offset: int, until: Position) -> list[Stored] | None:
        """`read_after` once it is known that history must be read."""
        sub = await self._js.subscribe(
            self._subjects.publish(channel),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            stream=self._subjects.history_stream,
        )
        found: list[Stored] = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=self._timeout)
                except NatsTimeout:
                    raise Unavailable("history read timed out") from None
                headers = msg.headers or {}
                msg_offset = int(headers.get(HDR_OFFSET, "0"))
                if headers.get(HDR_EPOCH) != until.epoch:
                    if msg.metadata.sequence.stream >= until.seq:
                        return None
                    continue
                items = publications(msg.data, headers.get(HDR_COUNT))
                for n, item in enumerate(items):
                    if msg_offset + n > offset:
                        if not found and msg_offset + n != offset + 1:
                            return None  # the oldest retained one is past the gap
                        found.append(Stored(msg_offset + n, until.epoch, item))
                last_offset = msg_offset + len(items) - 1
                if msg.metadata.sequence.stream >= until.seq or last_offset >= until.offset:
                    return found
        finally:
            await sub.unsubscribe()
