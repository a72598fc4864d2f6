"""NATS subject and stream names, for the default and a test prefix."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bilten.protocol.errors import BadChannel
from bilten.protocol.subjects import (
    HDR_EPOCH,
    HDR_EXPECTED_LAST_SUBJECT_SEQUENCE,
    HDR_MSG_ID,
    HDR_OFFSET,
    PERSISTENCE_CONSUMER,
    Subjects,
)

NAMES: list[tuple[Callable[[Subjects], object], object, object]] = [
    # (name under test, with prefix "bilten", with prefix "t1a2b")
    (
        lambda s: s.publish("event.42.checkins"),
        "bilten.in.event.42.checkins",
        "t1a2b.in.event.42.checkins",
    ),
    (lambda s: s.deliver("user.alice"), "bilten.ch.user.alice", "t1a2b.ch.user.alice"),
    (lambda s: s.deliver_all, "bilten.ch.>", "t1a2b.ch.>"),
    (
        lambda s: s.snapshot("event.42.seats"),
        "bilten.snap.event.42.seats",
        "t1a2b.snap.event.42.seats",
    ),
    (lambda s: s.command("checkin.scan"), "bilten.cmd.checkin.scan", "t1a2b.cmd.checkin.scan"),
    (lambda s: s.command("events.create"), "bilten.cmd.events.create", "t1a2b.cmd.events.create"),
    (
        lambda s: s.events("checkin.scanned"),
        "bilten.evt.checkin.scanned",
        "t1a2b.evt.checkin.scanned",
    ),
    (lambda s: s.events(">"), "bilten.evt.>", "t1a2b.evt.>"),
    (lambda s: s.events("checkin.>"), "bilten.evt.checkin.>", "t1a2b.evt.checkin.>"),
    (lambda s: s.history_stream, "BILTEN_HISTORY", "T1A2B_HISTORY"),
    (lambda s: s.events_stream, "BILTEN_EVENTS", "T1A2B_EVENTS"),
    (lambda s: s.keys_stream, "BILTEN_KEYS", "T1A2B_KEYS"),
    (lambda s: s.key("ab12"), "bilten.key.ab12", "t1a2b.key.ab12"),
    (lambda s: s.history_subjects, ("bilten.in.>",), ("t1a2b.in.>",)),
    (lambda s: s.republish_source, "bilten.in.>", "t1a2b.in.>"),
    (lambda s: s.republish_destination, "bilten.ch.>", "t1a2b.ch.>"),
    (lambda s: s.queue_group("checkins"), "bilten-checkins", "t1a2b-checkins"),
    (lambda s: s.durable(PERSISTENCE_CONSUMER), "bilten-persistence", "t1a2b-persistence"),
    (
        lambda s: s.replay("r1", "checkin.decided"),
        "bilten.replay.r1.checkin.decided",
        "t1a2b.replay.r1.checkin.decided",
    ),
    (lambda s: s.replay(">", ">"), "bilten.replay.>", "t1a2b.replay.>"),
    (lambda s: s.replay_stream, "BILTEN_REPLAY", "T1A2B_REPLAY"),
]


@pytest.mark.parametrize(("name", "default", "prefixed"), NAMES)
def test_names(name: Callable[[Subjects], object], default: object, prefixed: object) -> None:
    assert name(Subjects()) == default
    assert name(Subjects("t1a2b")) == prefixed


def test_prefixes_isolate_deployments() -> None:
    a, b = Subjects("ta"), Subjects("tb")
    for name, _, _ in NAMES:
        assert name(a) != name(b)


def test_republish_maps_publish_onto_deliver() -> None:
    s = Subjects("t9")
    src, dest = s.republish_source, s.republish_destination
    channel = "event.42.polls"
    # JetStream RePublish keeps the tokens matched by `>`.
    assert s.deliver(channel) == dest[:-1] + s.publish(channel)[len(src) - 1 :]


@pytest.mark.parametrize("channel", ["event.42.checkins", "user.a-b_c", f"event.{2**63 - 1}.seats"])
def test_channel_from_deliver_inverts_deliver(channel: str) -> None:
    s = Subjects("t5")
    assert s.channel_from_deliver(s.deliver(channel)) == channel


@pytest.mark.parametrize(
    "subject",
    [
        "t5.in.event.42.checkins",  # the publish side, not deliver
        "bilten.ch.event.42.checkins",  # another deployment
        "t5.ch.",
        "t5.ch",
        "t5.ch.event.42.*",
        "t5.ch.event.42.nope",
        "t5.ch.event.42",
        "t5.snap.event.42.seats",
    ],
)
def test_channel_from_deliver_rejects(subject: str) -> None:
    with pytest.raises(BadChannel):
        Subjects("t5").channel_from_deliver(subject)


@pytest.mark.parametrize(
    "prefix", ["", "Bilten", "1abc", "_a", "a.b", "a b", "a-b", "a>", "a" * 33]
)
def test_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="subject prefix"):
        Subjects(prefix)


@pytest.mark.parametrize("prefix", ["b", "bilten", "t0123456789", "a_b", "a" * 32])
def test_good_prefix(prefix: str) -> None:
    assert Subjects(prefix).prefix == prefix


@pytest.mark.parametrize(
    ("call", "value"),
    [
        (Subjects.command, "checkin scan"),
        (Subjects.command, "checkin.*"),
        (Subjects.command, ""),
        (Subjects.command, "Checkin.scan"),
        (Subjects.command, "checkin..scan"),
        (Subjects.events, "a.>.b"),
        (Subjects.queue_group, ""),
        (Subjects.queue_group, "a.b"),
        (Subjects.queue_group, "a b"),
    ],
)
def test_bad_names(call: Callable[[Subjects, str], str], value: str) -> None:
    with pytest.raises(ValueError):
        call(Subjects(), value)


def test_headers() -> None:
    assert (HDR_OFFSET, HDR_EPOCH) == ("Bilten-Offset", "Bilten-Epoch")
    assert HDR_EXPECTED_LAST_SUBJECT_SEQUENCE == "Nats-Expected-Last-Subject-Sequence"
    assert HDR_MSG_ID == "Nats-Msg-Id"


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        setattr(Subjects(), "prefix", "other")  # noqa: B010 - bypasses the type check on purpose
