"""The history stream, one channel at a time: its position, the one way to add to it, reads.

docs/protocol.md §NATS subjects, §Recovery and §Publishing exactly once.
ChannelLog (infra/channel_log.py) decides what to store and when; these are
the stream operations it uses: the channel's last position, storing a message
exactly after a known position (or learning it is not the last), and reads
back through short-lived ordered consumers filtered to the channel's subject.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from bilten.infra.publish_keys import WRONG_LAST_SEQUENCE, Marker
from bilten.protocol.batch import pack, parse_tags, publications, tags_header
from bilten.protocol.errors import Unavailable
from bilten.protocol.subjects import (
    HDR_COUNT,
    HDR_EPOCH,
    HDR_EXPECTED_LAST_SUBJECT_SEQUENCE,
    HDR_OFFSET,
    HDR_TAGS,
    Subjects,
)

# Clocks of the keys stream's and the history stream's leaders may differ this much.
_CLOCK_SLACK = timedelta(seconds=2)


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


class WrongLast(Exception):
    """Someone stored a message on the channel after the position the store expected."""


async def last_position(js: JetStreamContext, subjects: Subjects, channel: str) -> Position | None:
    """The channel's current position from the stream, or None if it has no history."""
    try:
        msg = await js.get_last_msg(subjects.history_stream, subjects.publish(channel), direct=True)
    except NotFoundError:
        return None
    headers = msg.headers or {}
    count = int(headers.get(HDR_COUNT, "1"))
    return Position(
        headers.get(HDR_EPOCH, ""), int(headers.get(HDR_OFFSET, "0")) + count - 1, msg.seq or 0
    )


async def store_after(
    js: JetStreamContext,
    subjects: Subjects,
    channel: str,
    items: list[bytes],
    tags: list[tuple[int, str]],
    last: Position,
    *,
    timeout: float,
) -> int:
    """Store `items` (keyed ones tagged) as the one message right after `last`; its sequence.

    `WrongLast` if `last` is no longer the channel's last message; `Unavailable`
    if JetStream refuses or does not acknowledge in time (then it may still be
    stored: a keyed publication's repeat finds it by its claim).
    """
    headers = {
        HDR_OFFSET: str(last.offset + 1),
        HDR_EPOCH: last.epoch,
        HDR_EXPECTED_LAST_SUBJECT_SEQUENCE: str(last.seq),
    }
    if len(items) > 1:
        headers[HDR_COUNT] = str(len(items))
    if tags:
        headers[HDR_TAGS] = tags_header(tags)
    data = items[0] if len(items) == 1 else pack(items)
    try:
        ack = await js.publish(subjects.publish(channel), data, timeout=timeout, headers=headers)
    except APIError as error:
        if error.err_code == WRONG_LAST_SEQUENCE:
            raise WrongLast from None
        raise Unavailable(f"history store refused the publication: {error}") from None
    except NatsTimeout:
        raise Unavailable("history store did not acknowledge in time") from None
    return ack.seq


@asynccontextmanager
async def _messages(
    js: JetStreamContext,
    subjects: Subjects,
    channel: str,
    *,
    config: ConsumerConfig | None = None,
    headers_only: bool = False,
) -> AsyncIterator[JetStreamContext.PushSubscription]:
    sub = await js.subscribe(
        subjects.publish(channel),
        ordered_consumer=True,
        stream=subjects.history_stream,
        config=config,
        headers_only=headers_only or None,
    )
    try:
        yield sub
    finally:
        await sub.unsubscribe()


async def _next(sub: JetStreamContext.PushSubscription, timeout: float) -> Msg:
    try:
        return await sub.next_msg(timeout=timeout)
    except NatsTimeout:
        raise Unavailable("history read timed out") from None


async def read_range(
    js: JetStreamContext,
    subjects: Subjects,
    channel: str,
    offset: int,
    until: Position,
    *,
    timeout: float,
) -> list[Stored] | None:
    """Publications after `offset` up to `until`, or None if history no longer holds them all."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    found: list[Stored] = []
    async with _messages(js, subjects, channel, config=config) as sub:
        while True:
            msg = await _next(sub, timeout)
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


async def find_tagged(
    js: JetStreamContext,
    subjects: Subjects,
    channel: str,
    marker: Marker,
    until: Position,
    *,
    timeout: float,
) -> Position | None:
    """Where a publication carrying one of `marker`'s tags was stored, up to `until`.

    Reads (headers only) the channel's messages stored since the key was
    first claimed; None if none of them carries one of the tags.
    """
    if marker.since is None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    else:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=marker.since - _CLOCK_SLACK
        )
    wanted = set(marker.tags)
    async with _messages(js, subjects, channel, config=config, headers_only=True) as sub:
        info = await sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else 0
        for _ in range((info.num_pending or 0) + delivered):
            msg = await _next(sub, timeout)
            headers = msg.headers or {}
            seq = msg.metadata.sequence.stream
            for tag, index in parse_tags(headers.get(HDR_TAGS)).items():
                if tag in wanted:
                    offset = int(headers.get(HDR_OFFSET, "0")) + index
                    return Position(headers.get(HDR_EPOCH, ""), offset, seq)
            if seq >= until.seq:
                break
    return None


async def holds_since(
    js: JetStreamContext, subjects: Subjects, channel: str, since: datetime | None
) -> bool:
    """Whether the channel's history still holds every message stored since `since`.

    The per-channel limit drops the oldest messages first, so it does if the
    oldest one retained opens its epoch (offset 1) or was stored before `since`.
    """
    try:
        first = await js.get_msg(
            subjects.history_stream,
            seq=1,
            subject=subjects.publish(channel),
            next=True,
            direct=True,
        )
    except NotFoundError:
        return True
    if (first.headers or {}).get(HDR_OFFSET) == "1":
        return True
    return since is not None and first.time is not None and first.time <= since - _CLOCK_SLACK
