"""Who may subscribe to, and publish on, which channel: one table, two checks.

docs/protocol.md §Tokens & permissions. The tables below are the whole policy;
the checks only look things up in them, and the docs and tests iterate them.
Event scope comes from the token (`Claims.covers_event`): a token for event 1
never reaches event 2, and a "*" token never leaves its organization.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from bilten.protocol.channels import EVENT_TOPICS, Channel
from bilten.protocol.errors import Forbidden, NotFound
from bilten.protocol.tokens import Claims, Role

# "own": only the bearer's user.{sub}; "any": every user channel.
UserAccess = Literal["none", "own", "any"]

_PUBLIC = frozenset({"announcements", "seats", "polls", "qa", "reactions"})

SUBSCRIBE_TOPICS: Mapping[Role, frozenset[str]] = MappingProxyType(
    {
        "attendee": _PUBLIC,
        "staff": _PUBLIC | {"checkins"},
        # Read-only organizers (member role `viewer`): the public view and the dashboard.
        "viewer": _PUBLIC | {"dashboard"},
        "organizer": EVENT_TOPICS,
        "service": EVENT_TOPICS,
    }
)
SUBSCRIBE_USER: Mapping[Role, UserAccess] = MappingProxyType(
    {
        "attendee": "own",
        "staff": "own",
        "viewer": "own",
        "organizer": "own",
        "service": "any",
    }
)

# The server publish API (`channels.publish`). Organizers reach their own
# events' channels only, never a user's; services publish anywhere.
PUBLISH_TOPICS: Mapping[Role, frozenset[str]] = MappingProxyType(
    {
        "attendee": frozenset(),
        "staff": frozenset(),
        "viewer": frozenset(),
        # Stateful topics belong to the workers owning their state (docs/protocol.md §Permissions).
        "organizer": frozenset({"announcements"}),
        "service": EVENT_TOPICS,
    }
)
PUBLISH_USER: Mapping[Role, UserAccess] = MappingProxyType(
    {
        "attendee": "none",
        "staff": "none",
        "viewer": "none",
        "organizer": "none",
        "service": "any",
    }
)


def check_subscribe(claims: Claims, channel: Channel, event_org: str | None) -> None:
    """Allow the subscription or raise `Forbidden`, or `NotFound` for a missing event.

    `event_org` is the organization owning `channel`'s event (None: no such
    event); it is ignored for user channels.
    """
    _check(claims, channel, event_org, SUBSCRIBE_TOPICS, SUBSCRIBE_USER, "subscribe to")


def check_publish(claims: Claims, channel: Channel, event_org: str | None) -> None:
    """Allow a publication through the server API or raise `Forbidden` / `NotFound`."""
    _check(claims, channel, event_org, PUBLISH_TOPICS, PUBLISH_USER, "publish on")


def _check(
    claims: Claims,
    channel: Channel,
    event_org: str | None,
    topics: Mapping[Role, frozenset[str]],
    users: Mapping[Role, UserAccess],
    verb: str,
) -> None:
    if channel.namespace == "user":
        access = users[claims.role]
        if access == "any" or (access == "own" and channel.user_id == claims.sub):
            return
        why = "it is another user's channel" if access == "own" else "no user channels"
        raise Forbidden(
            f"role {claims.role} may not {verb} {channel.name}: {why}", channel=channel.name
        )
    assert channel.event_id is not None and channel.topic is not None
    if event_org is None:
        raise NotFound(f"no event {channel.event_id}", event_id=channel.event_id)
    if channel.topic not in topics[claims.role]:
        raise Forbidden(
            f"role {claims.role} may not {verb} {channel.topic} channels", channel=channel.name
        )
    if not claims.covers_event(channel.event_id, event_org):
        raise Forbidden(f"the token does not cover event {channel.event_id}", channel=channel.name)
