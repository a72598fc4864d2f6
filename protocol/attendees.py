"""Attendees: buyers who sign in by e-mail link to see their orders and tickets.

docs/accounts.md §Attendees. An attendee is an e-mail address that asked for a
sign-in link and used it; what it sees are the orders confirmed with that
address (`seats.confirm` with `email`), in every event of every organization.
It is a distinct kind of account with its own sessions and cookie, so an
attendee session is never an organizer's. The rules are tables here; the
accounts worker and the docs read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

SIGNIN_LINK_TTL_S = 15 * 60  # minutes: the link is a credential sitting in a mailbox
MAX_TICKET_PAGE = 20  # each carries its QR code: ~3 KiB, and tens of ms to draw
MAX_ORDER_PAGE = 100
DEFAULT_PAGE = 20


@dataclass(frozen=True, slots=True)
class Window:
    """At most `count` sign-in links per `per_s` seconds (a fixed window from the first)."""

    count: int
    per_s: int


# Every request counts, whether or not the address has orders: the limits say
# nothing about it. Per e-mail address, so the form cannot flood a mailbox;
# per client address (shared by offices and carriers' NAT: more room), so one
# client cannot mail many boxes.
LINK_LIMITS: Mapping[str, Window] = MappingProxyType(
    {"email": Window(3, 15 * 60), "address": Window(30, 15 * 60)}
)


def attendee_sub(attendee_id: int) -> str:
    """The `sub` of the connection tokens an attendee session mints."""
    return f"attendee-{attendee_id}"
