"""Tickets, holds and orders as typed values, with their wire form.

docs/allocation.md §Holds, §Confirming, §Reading back. They cross worker
modules (a ticket issued by workers/tickets.py is sold by workers/orders.py
and read back by workers/purchases.py), so they travel as these frozen values
and become JSON once, in `to_wire`, which yields exactly the documented
objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

HoldStatus = Literal["held", "released", "expired", "confirmed"]


@dataclass(frozen=True, slots=True)
class Ticket:
    """An issued ticket and its signed code (re-derived, never stored)."""

    id: int
    event_id: int
    ticket_type_id: int
    holder: str
    state: str
    code: str

    def to_wire(self) -> dict[str, Any]:
        """The ticket as the API shows it."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "ticket_type_id": self.ticket_type_id,
            "holder": self.holder,
            "state": self.state,
            "code": self.code,
        }


@dataclass(frozen=True, slots=True)
class Hold:
    """Seats or general-admission places kept for a buyer until `expires_at`."""

    status: HoldStatus
    hold_id: int
    event_id: int
    seat_ids: tuple[int, ...]
    ticket_type_id: int | None
    quantity: int
    amount_minor: int
    currency: str
    expires_at: datetime

    def to_wire(self) -> dict[str, Any]:
        """The hold as the API shows it."""
        return {
            "status": self.status,
            "hold_id": self.hold_id,
            "event_id": self.event_id,
            "seat_ids": list(self.seat_ids),
            "ticket_type_id": self.ticket_type_id,
            "quantity": self.quantity,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Order:
    """A confirmed hold: what was bought, for how much, and its tickets."""

    order_id: int
    hold_id: int
    event_id: int
    amount_minor: int
    currency: str
    seat_ids: tuple[int, ...]
    tickets: tuple[Ticket, ...]
    created_at: datetime
    email: str | None = None  # the buyer's, where the confirmation went

    def to_wire(self) -> dict[str, Any]:
        """The order as the API (and the buyer's user channel) shows it."""
        return {
            "status": "confirmed",
            "order_id": self.order_id,
            "hold_id": self.hold_id,
            "event_id": self.event_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "seat_ids": list(self.seat_ids),
            "tickets": [t.to_wire() for t in self.tickets],
            "created_at": self.created_at.isoformat(),
            "email": self.email,
        }


# ISO 4217 currencies whose minor unit is not a hundredth (the rest have two decimals).
_MINOR_DIGITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def decimal_amount(amount_minor: int, currency: str) -> str:
    """An amount in minor units as a decimal of the currency's unit: `2500, "EUR"` → `25.00`."""
    digits = _MINOR_DIGITS.get(currency, 2)
    if digits == 0:
        return str(amount_minor)
    whole, part = divmod(amount_minor, 10**digits)
    return f"{whole}.{part:0{digits}d}"


def format_amount(amount_minor: int, currency: str) -> str:
    """An amount in minor units as people read it: `2500, "EUR"` → `25.00 EUR`."""
    return f"{decimal_amount(amount_minor, currency)} {currency}"
