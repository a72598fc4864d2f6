"""The domain events of sales, engagement, announcements and sign-ins, as outbox rows.

docs/insight.md §Event log. Each function gives the (kind, payload) row a
worker hands to `outbox.enqueue_many` in the transaction of the change it
describes; the outbox adds `kind` when it publishes. Webhooks, the event log
and analytics read exactly these fields, so they are spelled here once. Times
are ISO 8601 in UTC, amounts integers in minor units; no payload names a
voter or an asker. Pure: tests check the rows without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

Row: TypeAlias = tuple[str, dict[str, Any]]
"""An outbox row: (kind, payload)."""

ORDER_CREATED: Final = "orders.created"
TICKET_ISSUED: Final = "tickets.issued"
TICKET_REVOKED: Final = "tickets.revoked"
HOLD_PLACED: Final = "holds.placed"
HOLD_RELEASED: Final = "holds.released"
HOLD_EXPIRED: Final = "holds.expired"
HOLD_CONFIRMED: Final = "holds.confirmed"
POLL_VOTED: Final = "polls.voted"
QA_ASKED: Final = "qa.asked"
QA_MODERATED: Final = "qa.moderated"
ANNOUNCEMENT_SENT: Final = "announcements.sent"
SIGNED_IN: Final = "accounts.signed_in"

TicketKind = Literal["tickets.issued", "tickets.revoked"]
HoldKind = Literal["holds.placed", "holds.released", "holds.expired", "holds.confirmed"]
HOLD_ENDED: dict[str, HoldKind] = {
    "released": "holds.released",
    "expired": "holds.expired",
    "confirmed": "holds.confirmed",
}
"""The kind of a hold's end, by the state it ends in."""


def utc(at: datetime) -> str:
    """A time as ISO 8601 in UTC (PostgreSQL's are aware; a naive one is taken as UTC)."""
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()


def order_created(
    event_id: int,
    order_id: int,
    owner_sub: str,
    ticket_ids: Sequence[int],
    amount: int,
    currency: str,
    created_at: datetime,
) -> Row:
    """`orders.created`: a hold confirmed into an order with its tickets."""
    order = {
        "order_id": order_id,
        "owner_sub": owner_sub,
        "tickets": len(ticket_ids),
        "ticket_ids": list(ticket_ids),
        "amount": amount,
        "currency": currency,
        "created_at": utc(created_at),
    }
    return ORDER_CREATED, {"event_id": event_id, "order": order}


def ticket_event(
    kind: TicketKind,
    event_id: int,
    ticket_id: int,
    ticket_type_id: int,
    owner_sub: str | None,
    holder: str,
    at: datetime,
) -> Row:
    """`tickets.issued` or `tickets.revoked`: one ticket (`owner_sub` null when issued to
    nobody's account)."""
    ticket = {
        "ticket_id": ticket_id,
        "ticket_type_id": ticket_type_id,
        "owner_sub": owner_sub,
        "holder": holder,
        "at": utc(at),
    }
    return kind, {"event_id": event_id, "ticket": ticket}


def hold_event(kind: HoldKind, event_id: int, hold_id: int, seats: int, at: datetime) -> Row:
    """`holds.*`: a hold placed or ended; `seats` counts its seats or general-admission places."""
    return kind, {"event_id": event_id, "hold": {"hold_id": hold_id, "seats": seats, "at": utc(at)}}


def poll_voted(
    event_id: int, poll_id: int, session_id: int, ballot_id: int, voted_at: datetime
) -> Row:
    """`polls.voted`: one accepted ballot, without who cast it."""
    return POLL_VOTED, {
        "event_id": event_id,
        "poll_id": poll_id,
        "session_id": session_id,
        "ballot_id": ballot_id,
        "voted_at": utc(voted_at),
    }


def qa_asked(event_id: int, question_id: int, session_id: int, asked_at: datetime) -> Row:
    """`qa.asked`: a new question, without its text or asker."""
    return QA_ASKED, {
        "event_id": event_id,
        "question_id": question_id,
        "session_id": session_id,
        "asked_at": utc(asked_at),
    }


def qa_moderated(event_id: int, question_id: int, action: str, at: datetime) -> Row:
    """`qa.moderated`: a moderation action that changed a question."""
    return QA_MODERATED, {
        "event_id": event_id,
        "question_id": question_id,
        "action": action,
        "at": utc(at),
    }


def announcement_sent(event_id: int, at: datetime) -> Row:
    """`announcements.sent`: a publication on an event's announcements channel."""
    return ANNOUNCEMENT_SENT, {"event_id": event_id, "at": utc(at)}


def signed_in(sub: str, at: datetime, org_id: str | None = None) -> Row:
    """`accounts.signed_in`: a session started; `org_id` when it started in one organization
    (sign-up, an accepted invitation), absent for a plain sign-in."""
    payload: dict[str, Any] = {"sub": sub, "at": utc(at)}
    if org_id is not None:
        payload["org_id"] = org_id
    return SIGNED_IN, payload
