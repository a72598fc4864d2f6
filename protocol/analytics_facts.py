"""What each domain event adds to analytics: one *fact* (docs/insight.md §Analytics).

Pure: the analytics worker derives facts from the events stream live and from
a replay alike. A fact carries the figures one domain event adds (a decided
scan, an order, a ballot) under a key that makes a second copy of it
harmless: a scan's key names the scan itself, so a `checkin.revised` replaces
the verdict it revises; any other fact's key is its outbox message id. Its
version is the original's position in the events stream, the same whether it
arrives live or replayed: the newest verdict of a scan wins, and a copy
changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Fact:
    """What one domain event adds to an event's analytics, at the minute it happened."""

    id: str
    event_id: int
    version: int
    at: datetime
    kind: str
    scans: int = 0
    entries: int = 0
    exits: int = 0
    tickets: int = 0
    amount: int = 0
    currency: str = ""
    votes: int = 0

    def to_row(self) -> dict[str, Any]:
        """The fact as a row of the facts table (JSONEachRow)."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "version": self.version,
            "at": self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            "kind": self.kind,
            "scans": self.scans,
            "entries": self.entries,
            "exits": self.exits,
            "tickets": self.tickets,
            "amount": self.amount,
            "currency": self.currency,
            "votes": self.votes,
        }


def fact_of(
    payload: Mapping[str, Any], *, version: int, msg_id: str | None, origin: str, stored: datetime
) -> Fact | None:
    """The fact a domain event adds, or None when it adds nothing (other kinds, other shapes).

    `origin` is the original's `<stream>:<seq>`, the key of a fact without a message
    id; `stored` is when JetStream stored it, the time of a fact whose payload names none.
    """
    kind = payload.get("kind")
    event_id = payload.get("event_id")
    if type(event_id) is not int or event_id <= 0:
        return None
    key = msg_id or origin
    if kind in ("checkin.decided", "checkin.revised"):
        scan = payload.get("scan")
        if not isinstance(scan, dict):
            return None
        at = _time(scan.get("scanned_at"), stored)
        admitted = scan.get("status") == "ok"
        direction = scan.get("direction")
        ticket = scan.get("ticket")
        if isinstance(ticket, dict) and type(ticket.get("id")) is int:
            # The scan's own identity: a revision carries the same ticket, nonce, gate and time.
            key = "scan:" + ":".join(
                str(part)
                for part in (
                    ticket["id"],
                    direction,
                    scan.get("gate"),
                    at.isoformat(),
                    scan.get("nonce"),
                )
            )
        return Fact(
            key,
            event_id,
            version,
            at,
            kind,
            scans=1,
            entries=int(admitted and direction == "in"),
            exits=int(admitted and direction == "out"),
        )
    if kind == "orders.created":
        order = payload.get("order")
        if not isinstance(order, dict):
            return None
        tickets, amount, currency = order.get("tickets"), order.get("amount"), order.get("currency")
        if type(tickets) is not int or type(amount) is not int or not isinstance(currency, str):
            return None
        at = _time(order.get("created_at"), stored)
        return Fact(
            key, event_id, version, at, kind, tickets=tickets, amount=amount, currency=currency
        )
    if kind == "polls.voted":
        return Fact(key, event_id, version, _time(payload.get("voted_at"), stored), kind, votes=1)
    return None


def _time(value: object, fallback: datetime) -> datetime:
    """A payload's ISO 8601 time, or when the message was stored if it has none."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return fallback
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    return fallback
