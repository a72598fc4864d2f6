"""Reading back holds and orders: organizers see their event's, attendees their own.

docs/allocation.md §Reading back. Served by the allocation worker, which owns
these rows. The hub has checked that the token covers the event; here an
attendee's listing is narrowed to their own `sub`, and `orders.get` checks
ownership like `seats.confirm` does (another event's order looks absent,
another buyer's is forbidden). Lists are paged by id: `next` is the `after`
of the following page, null on the last one.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import MAX_ID, parse_int
from bilten.protocol.tokens import Claims
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.holds import authorize, hold_of
from bilten.workers.keys import KeyRing
from bilten.workers.orders import order_of
from bilten.workers.tickets import ticket_of

MAX_PAGE = 500
# A `Hold`'s `status` → the stored state.
_HOLD_STATES = {
    "held": "active",
    "released": "released",
    "expired": "expired",
    "confirmed": "confirmed",
}


def _page(params: dict[str, Any]) -> tuple[int, int]:
    return (
        parse_int(params, "limit", 1, MAX_PAGE, default=100),
        parse_int(params, "after", 0, MAX_ID, default=0),
    )


def _only_own(claims: Claims) -> str | None:
    """The `sub` a listing is narrowed to: attendees see their own, others all."""
    return claims.sub if claims.role == "attendee" else None


async def _with_tickets(
    conn: asyncpg.Pool | Conn, keys: KeyRing, orders: list[asyncpg.Record]
) -> list[dict[str, Any]]:
    """Orders as the API shows them (with their tickets and codes) plus `owner_sub`."""
    ids = [t for order in orders for t in order["ticket_ids"]]
    rows = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, event_id, ticket_type_id, holder, state FROM tickets"
            " WHERE id = ANY($1::bigint[])",
            ids,
        )
    }
    shown = []
    for order in orders:
        key = await keys.get(conn, order["event_id"])
        assert key is not None  # an order's tickets were signed with it
        tickets = [ticket_of(rows[t], key) for t in sorted(order["ticket_ids"])]
        shown.append(
            {
                **order_of(order, list(order["seat_ids"]), tickets).to_wire(),
                "owner_sub": order["owner_sub"],
            }
        )
    return shown


async def list_orders(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orders.list: the event's orders by id (an attendee's own only), with tickets."""
    event_id = parse_event_id(request.params)
    limit, after = _page(request.params)
    rows = await ctx.pg.fetch(
        """SELECT o.*, h.seat_ids FROM orders o JOIN holds h ON h.id = o.hold_id
           WHERE o.event_id = $1 AND o.id > $2 AND ($4::text IS NULL OR o.owner_sub = $4)
           ORDER BY o.id LIMIT $3""",
        event_id,
        after,
        limit,
        _only_own(request.claims),
    )
    orders = await _with_tickets(ctx.pg, ctx.keys, list(rows))
    return {"orders": orders, "next": orders[-1]["order_id"] if len(orders) == limit else None}


async def get_order(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orders.get: one order with its tickets (its owner, an organizer, or a service)."""
    order_id = parse_int(request.params, "order_id", 1, MAX_ID)
    row = await ctx.pg.fetchrow(
        """SELECT o.*, h.seat_ids, e.org_id FROM orders o JOIN holds h ON h.id = o.hold_id
           JOIN events e ON e.id = o.event_id WHERE o.id = $1""",
        order_id,
    )
    if row is None:
        raise NotFound(f"no order {order_id}")
    authorize(request.claims, row, "order")
    return (await _with_tickets(ctx.pg, ctx.keys, [row]))[0]


async def list_holds(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """holds.list: the event's holds by id (an attendee's own only); `status` filters."""
    params = request.params
    event_id = parse_event_id(params)
    limit, after = _page(params)
    status = params.get("status")
    if status is not None and status not in _HOLD_STATES:
        raise BadRequest(f"status must be one of {', '.join(_HOLD_STATES)}", field="status")
    rows = await ctx.pg.fetch(
        """SELECT * FROM holds WHERE event_id = $1 AND id > $2
             AND ($4::text IS NULL OR owner_sub = $4) AND ($5::text IS NULL OR state = $5)
           ORDER BY id LIMIT $3""",
        event_id,
        after,
        limit,
        _only_own(request.claims),
        None if status is None else _HOLD_STATES[status],
    )
    holds = [
        {
            **hold_of(row).to_wire(),
            "owner_sub": row["owner_sub"],
            "created_at": row["created_at"].isoformat(),
        }
        for row in rows
    ]
    return {"holds": holds, "next": holds[-1]["hold_id"] if len(holds) == limit else None}
