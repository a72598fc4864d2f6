"""The permission matrix: roles by topics by own/other event, own/other org, user channels.

The expected tables are written out here independently of permissions.py, so a
change to the policy has to change both (and docs/protocol.md with them).
"""

from __future__ import annotations

import itertools
from typing import Any, Literal, cast

import pytest

from bilten.protocol.channels import EVENT_TOPICS, Channel, event_channel, user_channel
from bilten.protocol.errors import Forbidden, NotFound
from bilten.protocol.permissions import (
    PUBLISH_TOPICS,
    PUBLISH_USER,
    SUBSCRIBE_TOPICS,
    SUBSCRIBE_USER,
    check_publish,
    check_subscribe,
)
from bilten.protocol.tokens import ROLES, Claims, Role

ALL = {"announcements", "checkins", "seats", "dashboard", "polls", "qa", "reactions"}
MAY_SUBSCRIBE: dict[str, set[str]] = {
    "attendee": {"announcements", "seats", "polls", "qa", "reactions"},
    "staff": {"announcements", "seats", "polls", "qa", "reactions", "checkins"},
    "viewer": {"announcements", "seats", "polls", "qa", "reactions", "dashboard"},
    "organizer": ALL,
    "service": ALL,
}
MAY_PUBLISH: dict[str, set[str]] = {
    "attendee": set(),
    "staff": set(),
    "viewer": set(),
    "organizer": {"announcements"},
    "service": ALL,
}

# Where the event sits relative to a token for event 1 of org "acme" (or "*" of "acme").
Place = Literal["own event", "other event", "other org", "missing"]
PLACES: dict[Place, tuple[int, str | None]] = {
    "own event": (1, "acme"),
    "other event": (2, "acme"),
    "other org": (1, "globex"),  # same id as the token's event, another organization
    "missing": (1, None),
}


def _claims(role: Role, events: tuple[int, ...] | Literal["*"] = (1,)) -> Claims:
    return Claims("alice", "acme", role, events, None, exp=2_000_000_000, iat=1_000_000_000)


def _outcome(check: Any, claims: Claims, channel: Channel, event_org: str | None) -> str:
    try:
        check(claims, channel, event_org)
    except Forbidden as error:
        assert error.code == "forbidden" and error.http_status == 403
        return "forbidden"
    except NotFound as error:
        assert error.code == "not_found" and error.http_status == 404
        return "not_found"
    return "ok"


def _expected_event(
    role: str, events: object, topic: str, place: Place, allowed: dict[str, set[str]]
) -> str:
    if place == "missing":
        return "not_found"
    if topic not in allowed[role]:
        return "forbidden"
    if role == "service" or place == "own event":
        return "ok"
    if place == "other event" and events == "*":
        return "ok"
    return "forbidden"


EVENT_CASES = list(itertools.product(ROLES, [(1,), "*"], sorted(ALL), PLACES))


@pytest.mark.parametrize(("role", "events", "topic", "place"), EVENT_CASES)
def test_subscribe_event_channels(role: Role, events: Any, topic: str, place: Place) -> None:
    event_id, event_org = PLACES[place]
    got = _outcome(
        check_subscribe, _claims(role, events), event_channel(event_id, topic), event_org
    )
    assert got == _expected_event(role, events, topic, place, MAY_SUBSCRIBE)


@pytest.mark.parametrize(("role", "events", "topic", "place"), EVENT_CASES)
def test_publish_event_channels(role: Role, events: Any, topic: str, place: Place) -> None:
    event_id, event_org = PLACES[place]
    got = _outcome(check_publish, _claims(role, events), event_channel(event_id, topic), event_org)
    assert got == _expected_event(role, events, topic, place, MAY_PUBLISH)


USER_CASES: list[tuple[Role, str, str, str]] = [
    # (role, channel owner, subscribe, publish)
    ("attendee", "alice", "ok", "forbidden"),
    ("attendee", "bob", "forbidden", "forbidden"),
    ("staff", "alice", "ok", "forbidden"),
    ("staff", "bob", "forbidden", "forbidden"),
    ("organizer", "alice", "ok", "forbidden"),
    ("organizer", "bob", "forbidden", "forbidden"),
    ("service", "alice", "ok", "ok"),
    ("service", "bob", "ok", "ok"),
]


@pytest.mark.parametrize(("role", "owner", "subscribe", "publish"), USER_CASES)
@pytest.mark.parametrize("event_org", [None, "acme", "globex"])  # ignored for user channels
def test_user_channels(
    role: Role, owner: str, subscribe: str, publish: str, event_org: str | None
) -> None:
    claims, channel = _claims(role, "*"), user_channel(owner)
    assert _outcome(check_subscribe, claims, channel, event_org) == subscribe
    assert _outcome(check_publish, claims, channel, event_org) == publish


def test_user_id_is_compared_exactly() -> None:
    with pytest.raises(Forbidden):
        check_subscribe(_claims("attendee"), user_channel("Alice"), None)


def test_tables_match_the_documented_policy() -> None:
    assert set(SUBSCRIBE_TOPICS) == set(PUBLISH_TOPICS) == set(ROLES)
    assert {role: set(t) for role, t in SUBSCRIBE_TOPICS.items()} == MAY_SUBSCRIBE
    assert {role: set(t) for role, t in PUBLISH_TOPICS.items()} == MAY_PUBLISH
    assert dict(SUBSCRIBE_USER) == {
        "attendee": "own",
        "staff": "own",
        "viewer": "own",
        "organizer": "own",
        "service": "any",
    }
    assert dict(PUBLISH_USER) == {
        "attendee": "none",
        "staff": "none",
        "viewer": "none",
        "organizer": "none",
        "service": "any",
    }
    assert ALL == EVENT_TOPICS


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        cast(Any, SUBSCRIBE_TOPICS)["attendee"] = frozenset(ALL)


def test_forbidden_says_why() -> None:
    with pytest.raises(Forbidden, match="may not subscribe to checkins"):
        check_subscribe(_claims("attendee"), event_channel(1, "checkins"), "acme")
    with pytest.raises(Forbidden, match="does not cover event 2"):
        check_subscribe(_claims("attendee"), event_channel(2, "seats"), "acme")
    with pytest.raises(Forbidden, match="another user's channel"):
        check_subscribe(_claims("attendee"), user_channel("bob"), None)
    with pytest.raises(NotFound, match="no event 9"):
        check_subscribe(_claims("service"), event_channel(9, "seats"), None)
