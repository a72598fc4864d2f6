"""NATS subjects, stream names and headers: the one place that spells them.

docs/protocol.md §NATS subjects. Every name starts with a deployment prefix
(default "bilten") so several deployments, or several test runs, share one
NATS server without seeing each other. Channel names are already valid subject
tokens (channels.py), so a channel maps onto a subject by plain concatenation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bilten.protocol.channels import parse_channel
from bilten.protocol.errors import BadChannel

# Headers on every stored publication (docs/protocol.md §Recovery).
HDR_OFFSET = "Bilten-Offset"
HDR_EPOCH = "Bilten-Epoch"
HDR_COUNT = "Bilten-Count"  # publications in a batched message (protocol/batch.py)
HDR_TAGS = "Bilten-Tags"  # which publications of a message are keyed (protocol/batch.py)
# JetStream's own headers: optimistic concurrency per subject, and de-duplication.
HDR_EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
HDR_MSG_ID = "Nats-Msg-Id"
# Set by JetStream on the copies a stream republishes (hubs receive those): the sequence.
HDR_SEQUENCE = "Nats-Sequence"
# The durable consumers on the events stream, by the worker that owns each.
PERSISTENCE_CONSUMER = "persistence"
MAIL_CONSUMER = "mail"
METRICS_CONSUMER = "metrics"
ANALYTICS_CONSUMER = "analytics"
WEBHOOKS_CONSUMER = "webhooks"
# The durable consumer on the history stream: announcements told as domain events.
ANNOUNCEMENTS_CONSUMER = "announcements"

# The same rule as the BILTEN_NAMESPACE setting: a subject token, a stream
# name once uppercased, and a Redis key prefix, all at once.
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Methods and event kinds are dotted lowercase names (e.g. checkin.scan); `>`
# is allowed as the last token so consumers can filter on `evt.>`.
_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.>)?|>")
_WORKER = re.compile(r"[a-z][a-z0-9_\-]{0,63}")


@dataclass(frozen=True, slots=True)
class Subjects:
    """Subject and stream names of one deployment (`prefix` = BILTEN_NAMESPACE)."""

    prefix: str = "bilten"

    def __post_init__(self) -> None:
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                f"subject prefix {self.prefix!r} is not lowercase letters, "
                "digits and _, starting with a letter, at most 32 long"
            )

    def publish(self, channel: str) -> str:
        """Where publishers write a channel's messages; the history stream captures it."""
        return f"{self.prefix}.in.{channel}"

    def deliver(self, channel: str) -> str:
        """Where the history stream republishes stored messages; hubs subscribe here."""
        return f"{self.prefix}.ch.{channel}"

    def channel_from_deliver(self, subject: str) -> str:
        """The channel of a `deliver` subject; raise `BadChannel` for anything else."""
        head = f"{self.prefix}.ch."
        if not subject.startswith(head):
            raise BadChannel(f"subject {subject[:200]!r} is not under {head}>")
        channel = subject[len(head) :]
        parse_channel(channel)
        return channel

    def channel_from_publish(self, subject: str) -> str:
        """The channel of a `publish` subject; raise `BadChannel` for anything else."""
        head = f"{self.prefix}.in."
        if not subject.startswith(head):
            raise BadChannel(f"subject {subject[:200]!r} is not under {head}>")
        channel = subject[len(head) :]
        parse_channel(channel)
        return channel

    @property
    def deliver_all(self) -> str:
        """The wildcard a hub may subscribe to for every channel."""
        return f"{self.prefix}.ch.>"

    def snapshot(self, channel: str) -> str:
        """Request/reply to the worker owning a stateful channel (§Snapshots)."""
        return f"{self.prefix}.snap.{channel}"

    def command(self, method: str) -> str:
        """Request/reply to the worker serving an rpc method (queue groups)."""
        return f"{self.prefix}.cmd.{_checked(method, 'method')}"

    def events(self, kind: str) -> str:
        """Domain events (`events(">")` for all), captured by the events stream."""
        return f"{self.prefix}.evt.{_checked(kind, 'event kind')}"

    @property
    def history_stream(self) -> str:
        """JetStream stream holding every channel's recent publications."""
        return f"{self.prefix.upper()}_HISTORY"

    @property
    def keys_stream(self) -> str:
        """JetStream stream of publication keys: who claimed an idempotency key, and where."""
        return f"{self.prefix.upper()}_KEYS"

    def key(self, digest: str) -> str:
        """The subject of one claimed publication key (`digest` of the key, hex)."""
        return f"{self.prefix}.key.{digest}"

    @property
    def events_stream(self) -> str:
        """JetStream stream of domain events for persistence and metrics workers."""
        return f"{self.prefix.upper()}_EVENTS"

    @property
    def replay_stream(self) -> str:
        """JetStream stream of replayed event-log entries (`bilten replay`, docs/insight.md)."""
        return f"{self.prefix.upper()}_REPLAY"

    def replay(self, run: str, kind: str) -> str:
        """Where run `run` re-publishes a logged event of `kind` (`replay(">", ">")`: all)."""
        if run != ">" and not _WORKER.fullmatch(run):
            raise ValueError(f"replay run {run!r} is not a lowercase identifier")
        if run == ">":
            return f"{self.prefix}.replay.>"
        return f"{self.prefix}.replay.{run}.{_checked(kind, 'event kind')}"

    @property
    def announcements_published(self) -> str:
        """Every event's announcements channel as the history stream captures it."""
        return self.publish("event.*.announcements")

    @property
    def history_subjects(self) -> tuple[str, ...]:
        """Subjects the history stream captures."""
        return (f"{self.prefix}.in.>",)

    @property
    def republish_source(self) -> str:
        """RePublish `src` of the history stream."""
        return f"{self.prefix}.in.>"

    @property
    def republish_destination(self) -> str:
        """RePublish `dest` of the history stream: `in.<channel>` → `ch.<channel>`."""
        return f"{self.prefix}.ch.>"

    def revocations(self) -> str:
        """Core NATS: each token revocation as the accounts worker records it, to every hub."""
        return f"{self.prefix}.revoked"

    def worker_ping(self, worker: str) -> str:
        """Request/reply: answered once a worker serves all its commands (hub readiness)."""
        if not _WORKER.fullmatch(worker):
            raise ValueError(f"worker name {worker!r} is not a lowercase identifier")
        return f"{self.prefix}.ping.{worker}"

    def queue_group(self, worker: str) -> str:
        """The NATS queue group (and durable name stem) shared by a worker's replicas."""
        if not _WORKER.fullmatch(worker):
            raise ValueError(f"worker name {worker!r} is not a lowercase identifier")
        return f"{self.prefix}-{worker}"

    def durable(self, worker: str) -> str:
        """The durable JetStream consumer a worker's replicas share (named as its queue group)."""
        return self.queue_group(worker)


def _checked(name: str, what: str) -> str:
    # A method or kind with spaces or wildcards in the middle would subscribe
    # to, or publish on, the wrong subjects; that is a bug in the caller.
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a dotted lowercase name")
    return name
