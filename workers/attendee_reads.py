"""What a signed-in attendee sees: the orders confirmed with its address, and their tickets.

docs/accounts.md §Attendees. Orders match the attendee's (normalized) address
in any case, in every event of every organization; each comes with its event's
name, organization and start, and each ticket with its code and a QR code.
The caller has found the attendee from its session (workers/accounts_attendees.py).
"""

from __future__ import annotations

import asyncio
import functools
import io
from typing import Any

import asyncpg
import segno

from bilten.protocol.sales import Ticket
from bilten.workers.context import Conn
from bilten.workers.keys import KeyRing
from bilten.workers.orders import order_of
from bilten.workers.tickets import ticket_of

QR_CACHE = 2048  # drawings kept per worker (about 3 KiB each)
_WHERE = "e.name AS event_name, e.org_id, e.starts_at"
_ORDERS = f"""SELECT o.*, h.seat_ids, {_WHERE} FROM orders o
              JOIN holds h ON h.id = o.hold_id JOIN events e ON e.id = o.event_id
              WHERE lower(o.email) = $1 AND o.id > $2 ORDER BY o.id LIMIT $3"""
_TICKETS = f"""SELECT t.id, t.event_id, t.ticket_type_id, t.holder, t.state,
                      o.id AS order_id, {_WHERE}
               FROM orders o JOIN tickets t ON t.id = ANY(o.ticket_ids)
               JOIN events e ON e.id = o.event_id
               WHERE lower(o.email) = $1 AND t.id > $2 ORDER BY t.id LIMIT $3"""


def _where(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "event_name": row["event_name"],
        "org": row["org_id"],
        "starts_at": row["starts_at"].isoformat(),
    }


async def orders_of(
    conn: Conn, keys: KeyRing, email: str, after: int, limit: int
) -> list[dict[str, Any]]:
    """The address's orders after order id `after`, as attendee.orders shows them."""
    orders = await conn.fetch(_ORDERS, email, after, limit)
    tickets = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, event_id, ticket_type_id, holder, state FROM tickets"
            " WHERE id = ANY($1::bigint[])",
            [t for order in orders for t in order["ticket_ids"]],
        )
    }
    shown = []
    for order in orders:
        key = await keys.get(conn, order["event_id"])
        assert key is not None  # an order's tickets were signed with it
        issued = [ticket_of(tickets[t], key) for t in sorted(order["ticket_ids"])]
        wire = order_of(order, list(order["seat_ids"]), issued).to_wire()
        shown.append({**wire, **_where(order)})
    return shown


async def tickets_of(
    conn: Conn, keys: KeyRing, email: str, after: int, limit: int
) -> list[tuple[Ticket, dict[str, Any]]]:
    """The tickets of the address's orders after ticket id `after`, each with what
    attendee.tickets shows besides the ticket (its order and event)."""
    found = []
    for row in await conn.fetch(_TICKETS, email, after, limit):
        key = await keys.get(conn, row["event_id"])
        assert key is not None  # an order's tickets were signed with it
        found.append((ticket_of(row, key), {"order_id": row["order_id"], **_where(row)}))
    return found


async def with_qr(tickets: list[tuple[Ticket, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The tickets as attendee.tickets shows them, each with its QR code drawn.

    In a thread: drawing is pure Python, and the worker's loop keeps answering
    other commands between the interpreter's switches.
    """
    drawings = await asyncio.to_thread(_draw, [ticket for ticket, _ in tickets])
    return [
        {**ticket.to_wire(), **more, "qr_svg": svg}
        for (ticket, more), svg in zip(tickets, drawings, strict=True)
    ]


def _draw(tickets: list[Ticket]) -> list[str]:
    return [qr_svg(t.code, t.id) for t in tickets]


@functools.lru_cache(maxsize=QR_CACHE)
def qr_svg(code: str, ticket_id: int) -> str:
    """A ticket's code as a QR code in SVG, as /api/v1/tickets/{id}/qr.svg draws it.

    Drawing one takes tens of milliseconds (choosing the mask is most of
    it); a ticket's code never changes, so its drawing is kept.
    """
    buffer = io.BytesIO()
    qr = segno.make(code, error="m", micro=False)
    qr.save(buffer, kind="svg", scale=4, border=2, title=f"Ticket {ticket_id}")
    return buffer.getvalue().decode()
