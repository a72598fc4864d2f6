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

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from bilten.core.keyed_lock import KeyedLock
from bilten.protocol.errors import Conflict, Unavailable
from bilten.protocol.subjects import HDR_EPOCH, HDR_OFFSET, Subjects

# JetStream's error code for "wrong last sequence" (expected-last-subject-sequence failed).
_WRONG_LAST_SEQUENCE = 10071
_MAX_ATTEMPTS = 20
_CACHE_SIZE = 10_000


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

    def __init__(self, js: JetStreamContext, subjects: Subjects, *, timeout: float = 5.0,
                 history_size: int = 1000) -> None:
        self._js = js
        self._subjects = subjects
        self._timeout = timeout
        self._history_size = history_size
        self._positions: OrderedDict[str, Position] = OrderedDict()
        self._locks = KeyedLock()

    async def position(self, channel: str) -> Position | None:
        """The channel's current position from the stream, or None if it has no history."""
        try:
            msg = await self._js.get_last_msg(
                self._subjects.history_stream, self._subjects.publish(channel), direct=True)
        except NotFoundError:
            return None
        headers = msg.headers or {}
        return Position(headers.get(HDR_EPOCH, ""), int(headers.get(HDR_OFFSET, "0")),
                        msg.seq or 0)

    async def publish(self, channel: str, data: bytes, *, msg_id: str | None = None) -> Position:
        """Store one publication (JSON bytes) as the channel's next offset.

        With `msg_id`, a repeat within the stream's duplicate window (a retry
        after a crash) is stored once; the position returned is then the
        channel's, re-read.
        """
        async with self._locks.hold(channel):
            return await self._publish_locked(channel, data, msg_id)

    async def _publish_locked(self, channel: str, data: bytes, msg_id: str | None) -> Position:
        subject = self._subjects.publish(channel)
        for _ in range(_MAX_ATTEMPTS):
            last = self._positions.get(channel)
            if last is None:
                last = await self.position(channel) or Position(new_epoch(), 0, 0)
            headers = {
                HDR_OFFSET: str(last.offset + 1),
                HDR_EPOCH: last.epoch,
                "Nats-Expected-Last-Subject-Sequence": str(last.seq),
            }
            if msg_id is not None:
                headers["Nats-Msg-Id"] = msg_id
            try:
                ack = await self._js.publish(subject, data, timeout=self._timeout,
                                             headers=headers)
            except APIError as error:
                if error.err_code != _WRONG_LAST_SEQUENCE:
                    raise Unavailable(f"history store refused the publication: {error}") from None
                self._positions.pop(channel, None)  # someone else published: reload
                continue
            except NatsTimeout:
                self._positions.pop(channel, None)
                raise Unavailable("history store did not acknowledge in time") from None
            if ack.duplicate:  # stored before: nothing new, and our cache may be stale
                self._positions.pop(channel, None)
                return await self.position(channel) or Position(last.epoch, last.offset, ack.seq)
            position = Position(last.epoch, last.offset + 1, ack.seq)
            self._remember(channel, position)
            return position
        raise Conflict(f"channel {channel} is contended; gave up after {_MAX_ATTEMPTS} tries")

    def _remember(self, channel: str, position: Position) -> None:
        self._positions[channel] = position
        self._positions.move_to_end(channel)
        if len(self._positions) > _CACHE_SIZE:
            self._positions.popitem(last=False)

    async def read_after(self, channel: str, epoch: str, offset: int,
                         until: Position) -> list[Stored] | None:
        """Publications after `offset` up to `until`, or None if history can't cover them.

        None when the epoch differs (history was lost), the client claims an
        offset beyond the channel's, or the oldest retained publication is
        already past `offset + 1`.
        """
        if offset > until.offset or (epoch != until.epoch and not (epoch == "" and offset == 0)):
            return None  # "" at 0 is a client that saw the channel empty: any epoch fits
        if offset == until.offset:
            return []
        if until.offset - offset > self._history_size:
            return None
        sub = await self._js.subscribe(
            self._subjects.publish(channel), ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL, stream=self._subjects.history_stream,
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
                if msg_offset > offset:
                    if not found and msg_offset != offset + 1:
                        return None  # the oldest retained one is past the gap
                    found.append(Stored(msg_offset, until.epoch, msg.data))
                if msg.metadata.sequence.stream >= until.seq or msg_offset >= until.offset:
                    return found
        finally:
            await sub.unsubscribe()
