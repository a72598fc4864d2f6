"""Announcements told as domain events: `announcements.sent` from the channel history.

docs/insight.md §Domain events. An announcement is a publication on
`event.{id}.announcements` (docs/engagement.md), stored in the history stream
by whoever published it. This consumer of that stream (in the engagement
worker) tells the events stream of each one, keyed by where it is stored,
`announcements.sent:<channel>:<epoch>:<offset>`, so a redelivered batch is told
once (the event log keeps each key once). The hub's publish path never waits
for it, and an announcement stored just before a hub died is still told.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from nats.aio.msg import Msg

from bilten.infra.channel_log import MAX_BATCH
from bilten.protocol.batch import publications
from bilten.protocol.channels import parse_channel
from bilten.protocol.domain_events import ANNOUNCEMENT_SENT, announcement_sent
from bilten.protocol.errors import BadChannel, BadRequest
from bilten.protocol.frames import MAX_EPOCH_LENGTH, MAX_OFFSET
from bilten.protocol.subjects import HDR_COUNT, HDR_EPOCH, HDR_MSG_ID, HDR_OFFSET
from bilten.workers.context import WorkerContext

_OFFSET_DIGITS = len(str(MAX_OFFSET))


def told(msg: Msg, ctx: WorkerContext) -> list[tuple[bytes, str]]:
    """The `announcements.sent` events of one stored message (one per publication in
    it) with their message ids; BadRequest or BadChannel if it is not a publication."""
    channel = ctx.subjects.channel_from_publish(msg.subject)
    event_id = parse_channel(channel).event_id
    headers = msg.headers or {}
    epoch, first = headers.get(HDR_EPOCH), headers.get(HDR_OFFSET, "")
    # str.isdigit takes '²' too, which int() refuses: only ASCII digits are an offset.
    # The epoch and the offset go into the event's key, which the event log indexes
    # (an index row takes 2704 bytes at most): no longer than the protocol allows.
    if (
        event_id is None
        or not epoch
        or len(epoch) > MAX_EPOCH_LENGTH
        or not (first.isascii() and first.isdigit() and len(first) <= _OFFSET_DIGITS)
    ):
        raise BadRequest(f"{msg.subject} is not a stored announcement")
    count = len(publications(msg.data, headers.get(HDR_COUNT)))
    if count > MAX_BATCH:  # more than any publisher stores in one message
        raise BadRequest(f"{msg.subject} claims {count} publications (at most {MAX_BATCH})")
    kind, payload = announcement_sent(event_id, msg.metadata.timestamp or datetime.now(UTC))
    body = orjson.dumps({"kind": kind, **payload})
    return [(body, f"{kind}:{channel}:{epoch}:{int(first) + n}") for n in range(count)]


async def tell(msgs: Sequence[Msg], ctx: WorkerContext) -> Sequence[Msg]:
    """Publish the batch's `announcements.sent` events; returns the messages that are no
    stored announcement (terminated). A refused publish fails the batch, redelivered."""
    events: list[tuple[bytes, str]] = []
    refused: list[Msg] = []
    for msg in msgs:
        try:
            events += told(msg, ctx)
        except (BadRequest, BadChannel):
            refused.append(msg)
    subject = ctx.subjects.events(ANNOUNCEMENT_SENT)
    await asyncio.gather(
        *(ctx.deps.js.publish(subject, body, headers={HDR_MSG_ID: key}) for body, key in events)
    )
    return refused
