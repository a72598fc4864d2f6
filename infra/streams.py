"""JetStream declarations: every stream and durable consumer Bilten uses.

Declared idempotently at start-up (`declare`), from this one table. The file
store must sync before acknowledging: the embedded server runs with
`sync_interval: always`, and docs/operations.md asks the same of deployments
(Jepsen's 2025 analysis of NATS lost acknowledged writes under the default
two-minute sync).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RePublish,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from bilten.protocol.mail import MAIL_REQUESTED
from bilten.protocol.subjects import (
    ANALYTICS_CONSUMER,
    ANNOUNCEMENTS_CONSUMER,
    MAIL_CONSUMER,
    METRICS_CONSUMER,
    PERSISTENCE_CONSUMER,
    WEBHOOKS_CONSUMER,
    Subjects,
)

log = logging.getLogger(__name__)

# Mail is retried through longer outages than other work: with the runner's backoff
# (capped at 30 s) this many deliveries span about three quarters of an hour.
MAIL_MAX_DELIVER = 100
# Within this window a repeated message id (a publication key, an outbox row) is
# stored once (docs/protocol.md §Publishing exactly once).
DUPLICATE_WINDOW_S = 120.0
# A claimed key outlives its id's window, so a repeat always finds where it went.
KEY_RETENTION_S = DUPLICATE_WINDOW_S + 30.0
# A replay run stays this long for the consumers rebuilding from it (docs/insight.md §Replay).
REPLAY_RETENTION_S = 86400.0
# Durables of workers that are gone (audit: replaced by persistence), removed by `declare`.
RETIRED_DURABLES = ("audit",)
# JetStream's error code for "stream name already in use with a different configuration".
_STREAM_NAME_IN_USE = 10058
# "subjects overlap with an existing stream": also what a create gets while another
# process creates the same stream (its subjects are taken before its name is).
_SUBJECTS_OVERLAP = 10065
_CREATE_ATTEMPTS = 20
_CREATE_RETRY_S = 0.05


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """The knobs of the history stream that deployments tune."""

    history_size: int = 1000
    history_ttl_s: float = 86400.0
    events_ttl_s: float = 30 * 86400.0
    replicas: int = 1


@dataclass(frozen=True, slots=True)
class ConsumerDecl:
    """A durable pull consumer on the domain-event stream (or, with `history`, on the
    channel history stream), owned by one worker."""

    durable: str
    filter_subject: str
    ack_wait_s: float = 30.0
    max_deliver: int = 10  # -1: redelivered until acknowledged, however long that takes
    history: bool = False


def stream_configs(subjects: Subjects, limits: StreamLimits) -> list[StreamConfig]:
    """The streams: channel history (with republish to hubs) and the domain-event log."""
    history = StreamConfig(
        name=subjects.history_stream,
        description="Per-channel publication history; hubs receive the republished copies.",
        subjects=list(subjects.history_subjects),
        retention=RetentionPolicy.LIMITS,
        max_msgs_per_subject=limits.history_size,
        max_age=limits.history_ttl_s,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        num_replicas=limits.replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
        republish=RePublish(src=subjects.republish_source, dest=subjects.republish_destination),
    )
    events = StreamConfig(
        name=subjects.events_stream,
        description="Durable log of domain events for persistence and metrics workers.",
        subjects=[subjects.events(">")],
        retention=RetentionPolicy.LIMITS,
        max_age=limits.events_ttl_s,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        num_replicas=limits.replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
    )
    keys = StreamConfig(
        name=subjects.keys_stream,
        description="Claimed publication keys: which batched publication holds each (channel_log).",
        subjects=[subjects.key(">")],
        retention=RetentionPolicy.LIMITS,
        max_msgs_per_subject=1,
        max_age=KEY_RETENTION_S,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        num_replicas=limits.replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
    )
    replay = StreamConfig(
        name=subjects.replay_stream,
        description="Event-log entries re-published by `bilten replay` to rebuild derived state.",
        subjects=[subjects.replay(">", ">")],
        retention=RetentionPolicy.LIMITS,
        max_age=REPLAY_RETENTION_S,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        num_replicas=limits.replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
    )
    return [history, events, keys, replay]


def consumer_decls(subjects: Subjects) -> list[ConsumerDecl]:
    """Durable consumers on the events and history streams, one per worker that reads one."""
    return [
        # The event log must never give up on a message: it waits out any outage.
        ConsumerDecl(
            durable=subjects.durable(PERSISTENCE_CONSUMER),
            filter_subject=subjects.events(">"),
            max_deliver=-1,
        ),
        ConsumerDecl(
            durable=subjects.durable(MAIL_CONSUMER),
            filter_subject=subjects.events(MAIL_REQUESTED),
            ack_wait_s=60.0,
            max_deliver=MAIL_MAX_DELIVER,
        ),
        ConsumerDecl(
            durable=subjects.durable(METRICS_CONSUMER), filter_subject=subjects.events(">")
        ),
        # Analytics wait out a ClickHouse outage of any length, as the event log does.
        ConsumerDecl(
            durable=subjects.durable(ANALYTICS_CONSUMER),
            filter_subject=subjects.events(">"),
            max_deliver=-1,
        ),
        # Recording deliveries waits out any outage too: a skipped event is a lost delivery.
        ConsumerDecl(
            durable=subjects.durable(WEBHOOKS_CONSUMER),
            filter_subject=subjects.events(">"),
            max_deliver=-1,
        ),
        # Announcements become `announcements.sent` from their history: none is skipped.
        ConsumerDecl(
            durable=subjects.durable(ANNOUNCEMENTS_CONSUMER),
            filter_subject=subjects.announcements_published,
            max_deliver=-1,
            history=True,
        ),
    ]


async def _declare_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or update it to `config`; another process declaring it at the
    same moment is waited out (workers and hubs start together)."""
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            await js.add_stream(config)
            return
        except BadRequestError as error:
            if error.err_code == _STREAM_NAME_IN_USE:
                await js.update_stream(config)
                log.info("stream %s updated", config.name)
                return
            if error.err_code != _SUBJECTS_OVERLAP or attempt == _CREATE_ATTEMPTS:
                raise
        await asyncio.sleep(_CREATE_RETRY_S * attempt)


async def declare(js: JetStreamContext, subjects: Subjects, limits: StreamLimits) -> None:
    """Create or update every stream and consumer; safe to run any number of times."""
    for config in stream_configs(subjects, limits):
        await _declare_stream(js, config)
    for decl in consumer_decls(subjects):
        consumer = ConsumerConfig(
            durable_name=decl.durable,
            filter_subject=decl.filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=decl.ack_wait_s,
            max_deliver=decl.max_deliver,
        )
        stream = subjects.history_stream if decl.history else subjects.events_stream
        try:
            await js.add_consumer(stream, consumer)
        except BadRequestError:
            # An existing durable with other settings: replace it with the declared one.
            try:
                await js.delete_consumer(stream, decl.durable)
            except NotFoundError:
                pass
            await js.add_consumer(stream, consumer)
            log.info("consumer %s replaced", decl.durable)
    for retired in RETIRED_DURABLES:
        try:
            await js.delete_consumer(subjects.events_stream, subjects.durable(retired))
        except NotFoundError:
            continue
        log.info("retired consumer %s deleted", subjects.durable(retired))
