"""Channel grammar: what parses, into what, and what is refused with which reason."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

import pytest

from bilten.protocol.channels import (
    EVENT_TOPICS,
    MAX_CHANNEL_LENGTH,
    STATEFUL_TOPICS,
    Channel,
    event_channel,
    parse_channel,
    user_channel,
)
from bilten.protocol.errors import BadChannel

ACCEPTED: list[tuple[str, Channel]] = [
    ("event.42.checkins", Channel("event.42.checkins", "event", 42, "checkins")),
    ("event.1.announcements", Channel("event.1.announcements", "event", 1, "announcements")),
    ("event.1.seats", Channel("event.1.seats", "event", 1, "seats")),
    ("event.1.dashboard", Channel("event.1.dashboard", "event", 1, "dashboard")),
    ("event.1.polls", Channel("event.1.polls", "event", 1, "polls")),
    (f"event.{2**63 - 1}.seats", Channel(f"event.{2**63 - 1}.seats", "event", 2**63 - 1, "seats")),
    ("user.abc", Channel("user.abc", "user", user_id="abc")),
    ("user.A-b_9", Channel("user.A-b_9", "user", user_id="A-b_9")),
    ("user.-", Channel("user.-", "user", user_id="-")),
    ("user." + "x" * 64, Channel("user." + "x" * 64, "user", user_id="x" * 64)),
]

# (name, a fragment of the error message that says what is wrong)
REJECTED: list[tuple[object, str]] = [
    ("", "empty"),
    ("x" * (MAX_CHANNEL_LENGTH + 1), "the limit is 128"),
    ("user." + "a" * 124, "the limit is 128"),
    ("event.42.*", "wildcards"),
    ("event.>", "wildcards"),
    ("user.*", "wildcards"),
    ("event.1.sea ts", "only letters"),
    (" event.1.seats", "only letters"),
    ("event.1.seats\n", "only letters"),
    ("event.1.seats\t", "only letters"),
    ("user.ü", "only letters"),
    ("event.\uff11.seats", "only letters"),  # a fullwidth digit one
    ("event.1.seats/x", "only letters"),
    ('user."x"', "only letters"),
    ("user.x\\", "only letters"),
    (".event.1.seats", "empty token"),
    ("event..seats", "empty token"),
    ("event.1.seats.", "empty token"),
    ("user.", "empty token"),
    ("event", "event.{event_id}.{topic}"),
    ("event.42", "event.{event_id}.{topic}"),
    ("event.42.checkins.extra", "event.{event_id}.{topic}"),
    ("event.042.checkins", "leading zeros"),
    ("event.0.checkins", "positive decimal"),
    ("event.-1.checkins", "positive decimal"),
    ("event.1e3.checkins", "positive decimal"),
    ("event.abc.checkins", "positive decimal"),
    (f"event.{2**63}.seats", "below 2**63"),
    ("event.42.unknown", "unknown topic 'unknown'"),
    ("event.42.Seats", "unknown topic"),
    ("user", "user.{user_id}"),
    ("user.a.b", "user.{user_id}"),
    ("user." + "x" * 65, "1 to 64"),
    ("tenant.1.seats", "unknown namespace 'tenant'"),
    ("EVENT.1.seats", "unknown namespace"),
    ("events.1.seats", "unknown namespace"),
    (42, "a channel name is a string"),
    (None, "a channel name is a string"),
]


@pytest.mark.parametrize(("name", "expected"), ACCEPTED)
def test_parse_accepts(name: str, expected: Channel) -> None:
    assert parse_channel(name) == expected
    assert str(parse_channel(name)) == name


@pytest.mark.parametrize(("name", "fragment"), REJECTED)
def test_parse_rejects(name: object, fragment: str) -> None:
    with pytest.raises(BadChannel) as caught:
        parse_channel(cast(str, name))
    assert fragment in caught.value.message
    assert caught.value.code == "bad_channel"
    assert caught.value.http_status == 400


@pytest.mark.parametrize(("name", "expected"), ACCEPTED)
def test_accepted_names_are_plain_nats_tokens(name: str, expected: Channel) -> None:
    # 1:1 with NATS subject tokens, and safe to splice into JSON unescaped.
    assert re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", name)
    assert len(name) <= MAX_CHANNEL_LENGTH


def test_long_rejected_name_is_cut_in_the_error() -> None:
    with pytest.raises(BadChannel) as caught:
        parse_channel("x" * 10_000)
    assert len(caught.value.message) < 300
    assert caught.value.details["channel"] == "x" * MAX_CHANNEL_LENGTH


@pytest.mark.parametrize("topic", sorted(EVENT_TOPICS))
def test_stateful_topics(topic: str) -> None:
    assert event_channel(7, topic).stateful is (topic in {"seats", "dashboard", "polls", "qa"})


def test_stateful_table() -> None:
    assert frozenset({"seats", "dashboard", "polls", "qa"}) == STATEFUL_TOPICS
    assert STATEFUL_TOPICS <= EVENT_TOPICS
    assert not user_channel("u1").stateful


@pytest.mark.parametrize(
    ("built", "name"),
    [
        (lambda: event_channel(42, "checkins"), "event.42.checkins"),
        (lambda: event_channel(2**63 - 1, "polls"), f"event.{2**63 - 1}.polls"),
        (lambda: user_channel("alice"), "user.alice"),
    ],
)
def test_helpers_build_parsed_channels(built: Callable[[], Channel], name: str) -> None:
    assert built() == parse_channel(name)


@pytest.mark.parametrize(
    ("event_id", "topic"),
    [
        (0, "seats"),
        (-1, "seats"),
        (2**63, "seats"),
        (True, "seats"),
        ("1", "seats"),
        (1, "nope"),
        (1, "seats.x"),
        (1, "*"),
    ],
)
def test_event_channel_rejects(event_id: object, topic: str) -> None:
    with pytest.raises(BadChannel):
        event_channel(cast(int, event_id), topic)


@pytest.mark.parametrize("user_id", ["", "a.b", "a b", "*", ">", "x" * 65, "ü"])
def test_user_channel_rejects(user_id: str) -> None:
    with pytest.raises(BadChannel):
        user_channel(user_id)
