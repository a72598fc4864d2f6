"""Tickets, holds and orders: their wire form is exactly the documented JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from bilten.protocol.sales import Hold, Order, Ticket

AT = datetime(2027, 6, 1, 17, 0, tzinfo=UTC)
TICKET = Ticket(7, 3, 12, "Ana", "valid", "BT1.code")
TICKET_WIRE = {
    "id": 7,
    "event_id": 3,
    "ticket_type_id": 12,
    "holder": "Ana",
    "state": "valid",
    "code": "BT1.code",
}


def test_ticket() -> None:
    assert TICKET.to_wire() == TICKET_WIRE


def test_hold_seated_and_general_admission() -> None:
    seated = Hold("held", 5, 3, (101, 102), None, 2, 9000, "EUR", AT)
    assert seated.to_wire() == {
        "status": "held",
        "hold_id": 5,
        "event_id": 3,
        "seat_ids": [101, 102],
        "ticket_type_id": None,
        "quantity": 2,
        "amount_minor": 9000,
        "currency": "EUR",
        "expires_at": "2027-06-01T17:00:00+00:00",
    }
    places = Hold("expired", 6, 3, (), 14, 4, 2000, "BAM", AT)
    assert places.to_wire()["seat_ids"] == [] and places.to_wire()["ticket_type_id"] == 14


def test_order_carries_its_tickets_and_encodes() -> None:
    order = Order(9, 5, 3, 9000, "EUR", (101,), (TICKET,), AT, "amra@example.org")
    wire = order.to_wire()
    assert wire == {
        "status": "confirmed",
        "order_id": 9,
        "hold_id": 5,
        "event_id": 3,
        "amount_minor": 9000,
        "currency": "EUR",
        "seat_ids": [101],
        "tickets": [TICKET_WIRE],
        "created_at": "2027-06-01T17:00:00+00:00",
        "email": "amra@example.org",
    }
    assert orjson.loads(orjson.dumps(wire)) == wire
    assert Order(9, 5, 3, 9000, "EUR", (101,), (TICKET,), AT).to_wire()["email"] is None
