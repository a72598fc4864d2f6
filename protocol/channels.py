"""Channel names: the grammar, parsed into a typed `Channel`.

docs/protocol.md §Channels. A name is dot-separated and maps 1:1 onto NATS
subject tokens (see subjects.py), so it may never hold NATS wildcards or
whitespace. The whole charset is `[A-Za-z0-9_.-]`, which is also why encoders
may splice a channel name into JSON without escaping it (frames.encode_pub).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bilten.protocol.errors import BadChannel

Namespace = Literal["event", "user"]
NAMESPACES: tuple[Namespace, ...] = ("event", "user")

EVENT_TOPICS: frozenset[str] = frozenset(
    {"announcements", "checkins", "seats", "dashboard", "polls", "qa", "reactions"}
)
# Topics whose state a worker owns: subscribing answers with a snapshot
# (docs/protocol.md §Snapshots).
STATEFUL_TOPICS: frozenset[str] = frozenset({"seats", "dashboard", "polls", "qa"})

MAX_CHANNEL_LENGTH = 128
MAX_EVENT_ID = 2**63 - 1  # a PostgreSQL bigint

_SAFE = re.compile(r"[A-Za-z0-9_.\-]+")
_EVENT_ID = re.compile(r"[1-9][0-9]*")
_USER_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


@dataclass(frozen=True, slots=True)
class Channel:
    """A parsed channel name; build one with `parse_channel` or the helpers below.

    Event channels carry `event_id` and `topic`; user channels carry `user_id`.
    """

    name: str
    namespace: Namespace
    event_id: int | None = None
    topic: str | None = None
    user_id: str | None = None

    @property
    def stateful(self) -> bool:
        """Whether subscribing answers with a snapshot of a worker's state."""
        return self.topic in STATEFUL_TOPICS

    def __str__(self) -> str:
        return self.name


def _bad(name: str, problem: str) -> BadChannel:
    return BadChannel(
        f"bad channel {name[:MAX_CHANNEL_LENGTH]!r}: {problem}", channel=name[:MAX_CHANNEL_LENGTH]
    )


def parse_channel(name: str) -> Channel:
    """Check `name` against the grammar and parse it; raise `BadChannel` saying why not."""
    if not isinstance(name, str):
        raise BadChannel(f"a channel name is a string, not {type(name).__name__}")
    if not name:
        raise _bad(name, "the name is empty")
    if len(name) > MAX_CHANNEL_LENGTH:
        raise _bad(name, f"{len(name)} characters, the limit is {MAX_CHANNEL_LENGTH}")
    if "*" in name or ">" in name:
        raise _bad(name, "wildcards (* and >) are not allowed")
    if not _SAFE.fullmatch(name):
        raise _bad(name, "only letters, digits, '_', '-' and '.' are allowed")
    tokens = name.split(".")
    if "" in tokens:
        raise _bad(name, "empty token (leading, trailing or doubled '.')")
    namespace = tokens[0]
    if namespace == "event":
        if len(tokens) != 3:
            raise _bad(name, "event channels are event.{event_id}.{topic}")
        return Channel(
            name, "event", event_id=_event_id(name, tokens[1]), topic=_topic(name, tokens[2])
        )
    if namespace == "user":
        if len(tokens) != 2:
            raise _bad(name, "user channels are user.{user_id}")
        if not _USER_ID.fullmatch(tokens[1]):
            raise _bad(name, "a user id is 1 to 64 letters, digits, '_' or '-'")
        return Channel(name, "user", user_id=tokens[1])
    raise _bad(name, f"unknown namespace {namespace!r}; channels start with 'event.' or 'user.'")


def _event_id(name: str, token: str) -> int:
    if not _EVENT_ID.fullmatch(token) or int(token) > MAX_EVENT_ID:
        raise _bad(
            name,
            f"event id {token!r} is not a positive decimal integer "
            "below 2**63 without leading zeros",
        )
    return int(token)


def _topic(name: str, token: str) -> str:
    if token not in EVENT_TOPICS:
        raise _bad(name, f"unknown topic {token!r}; topics are " + ", ".join(sorted(EVENT_TOPICS)))
    return token


def event_channel(event_id: int, topic: str) -> Channel:
    """The channel of one topic of one event, e.g. `event.42.checkins`."""
    if isinstance(event_id, bool) or not isinstance(event_id, int):
        raise BadChannel(f"an event id is an integer, not {type(event_id).__name__}")
    return parse_channel(f"event.{event_id}.{topic}")


def user_channel(user_id: str) -> Channel:
    """A user's private channel, `user.{user_id}` (the token's `sub`)."""
    return parse_channel(f"user.{user_id}")
