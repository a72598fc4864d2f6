"""Ending a hold: confirm it into an order with tickets, release it, or expire it.

docs/allocation.md §Confirming. Each path locks the hold's row first (then its
seats, then a GA counter: the order every path follows), so a confirm racing
the sweeper or a release sees the hold either still active or already ended;
`free_holds` gives back what released and expired holds had.
Confirming twice returns the same order; payment is out of scope, the order
records the amount and currency owed. Given the buyer's `email`, the order
keeps it and its confirmation with the tickets is queued for the mail worker
in the same transaction (docs/mail.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from bilten.infra import outbox
from bilten.protocol.allocation import parse_id
from bilten.protocol.channels import user_channel
from bilten.protocol.commands import CommandRequest
from bilten.protocol.domain_events import (
    HOLD_ENDED,
    TICKET_ISSUED,
    Row,
    hold_event,
    order_created,
    ticket_event,
)
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.protocol.mail import MAIL_REQUESTED, MailRequest, parse_email, resolve_locale
from bilten.protocol.sales import Order, Ticket, format_amount
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.holds import CHANGE, authorize, hold_of
from bilten.workers.keys import KeyRing
from bilten.workers.seatmap import CUSTOM_PLANS
from bilten.workers.tickets import issue_in, ticket_of


@dataclass(slots=True)
class Freed:
    """What ended holds gave back, per event: for waiting-list offers."""

    types: defaultdict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    sections: defaultdict[int, set[int]] = field(default_factory=lambda: defaultdict(set))

    def events(self) -> set[int]:
        """Events with something freed."""
        return set(self.types) | set(self.sections)


_HOLD = f"""SELECT h.*, e.org_id, e.name AS event_name, e.locale AS event_locale, {CUSTOM_PLANS}
            FROM holds h JOIN events e ON e.id = h.event_id
            WHERE h.id = $1 FOR NO KEY UPDATE OF h"""


def order_of(order: asyncpg.Record, seat_ids: list[int], tickets: list[Ticket]) -> Order:
    """An order row, the seats it bought and its tickets, as a value."""
    return Order(
        order["id"],
        order["hold_id"],
        order["event_id"],
        order["amount_minor"],
        order["currency"].strip(),
        tuple(seat_ids),
        tuple(tickets),
        order["created_at"],
        order["email"],
    )


async def _stored_order(conn: Conn, keys: KeyRing, hold: asyncpg.Record) -> dict[str, Any]:
    order = await conn.fetchrow("SELECT * FROM orders WHERE hold_id = $1", hold["id"])
    assert order is not None  # a confirmed hold has its order
    rows = await conn.fetch(
        """SELECT id, event_id, ticket_type_id, holder, state FROM tickets
           WHERE id = ANY($1::bigint[]) ORDER BY id""",
        order["ticket_ids"],
    )
    key = await keys.get(conn, hold["event_id"])
    assert key is not None
    return order_of(order, list(hold["seat_ids"]), [ticket_of(r, key) for r in rows]).to_wire()


async def confirm(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """seats.confirm: a live hold becomes an order and tickets (idempotent)."""
    hold_id = parse_id(request.params, "hold_id")
    holder = request.params.get("holder")
    if holder is not None and (
        not isinstance(holder, str)
        or not 0 < len(holder.strip()) <= 200
        or any(ord(c) < 32 for c in holder)
    ):
        raise BadRequest("holder must be text of 1-200 characters", field="holder")
    email = request.params.get("email")
    if email is not None:
        email = parse_email(email)
    event_id = await ctx.pg.fetchval("SELECT event_id FROM holds WHERE id = $1", hold_id)
    if event_id is None:
        raise NotFound(f"no hold {hold_id}")
    # Made outside the transaction: a key cached by a rolled-back one would not exist.
    await ctx.keys.get(ctx.pg, event_id, create=True)
    async with ctx.pg.acquire() as conn, conn.transaction():
        hold = await conn.fetchrow(_HOLD, hold_id)
        if hold is None:
            raise NotFound(f"no hold {hold_id}")
        authorize(request.claims, hold)
        if hold["state"] == "confirmed":
            return await _stored_order(conn, ctx.keys, hold)
        if hold["state"] != "active" or hold["expires_at"] <= await conn.fetchval("SELECT now()"):
            reason = "released" if hold["state"] == "released" else "expired"
            return {"status": "rejected", "reason": reason, "hold_id": hold_id}
        body = await _sell(conn, ctx.keys, hold, (holder or hold["owner_sub"]).strip(), email)
        rows = [
            outbox.publication(
                user_channel(hold["owner_sub"]).name, {"type": "order.confirmed", **body}
            ),
            *sold_events(hold["owner_sub"], body),
        ]
        if email is not None:
            mail = await _confirmation_mail(conn, hold, body)
            rows.append((MAIL_REQUESTED, mail.to_payload()))
        ids = await outbox.enqueue_many(conn, rows)
        if hold["ticket_type_id"] is not None:
            await _count_sold(conn, hold)
    await outbox.flush(ctx.deps, ids)
    return body


async def _count_sold(conn: Conn, hold: asyncpg.Record) -> None:
    """Move a general-admission hold's places from held to sold on its type's counter.

    The transaction's last statement: every hold and confirm of the type locks
    this one row, so it is locked only for the commit, not for the order's writes.
    """
    await conn.execute(
        f"UPDATE ga_counters SET held = held - $2, sold = sold + $2, {CHANGE}"
        " WHERE ticket_type_id = $1",
        hold["ticket_type_id"],
        hold["quantity"],
    )


def sold_events(owner_sub: str, order: dict[str, Any]) -> list[Row]:
    """What a confirm tells the events stream: the order, the hold's end, each ticket issued.

    All three happened in the confirm's transaction, at its `now()`: the order's `created_at`.
    """
    at = datetime.fromisoformat(order["created_at"])
    event_id, tickets = order["event_id"], order["tickets"]
    return [
        order_created(
            event_id,
            order["order_id"],
            owner_sub,
            [t["id"] for t in tickets],
            order["amount_minor"],
            order["currency"],
            at,
        ),
        hold_event(HOLD_ENDED["confirmed"], event_id, order["hold_id"], len(tickets), at),
        *(
            ticket_event(
                TICKET_ISSUED, event_id, t["id"], t["ticket_type_id"], owner_sub, t["holder"], at
            )
            for t in tickets
        ),
    ]


async def _confirmation_mail(
    conn: Conn, hold: asyncpg.Record, order: dict[str, Any]
) -> MailRequest:
    """The buyer's confirmation (docs/mail.md): the order, its total and every ticket's code."""
    rows = await conn.fetch(
        "SELECT id, name FROM ticket_types WHERE id = ANY($1::bigint[])",
        list({t["ticket_type_id"] for t in order["tickets"]}),
    )
    types: dict[int, str] = {row["id"]: row["name"] for row in rows}
    return MailRequest(
        to=order["email"],
        template="order_confirmation",
        locale=resolve_locale(hold["event_locale"]),
        vars={
            "event": hold["event_name"],
            "order_id": order["order_id"],
            "amount": format_amount(order["amount_minor"], order["currency"]),
            "tickets": [
                f"{t['holder']} · {types[t['ticket_type_id']]} · {t['code']}"
                for t in order["tickets"]
            ],
        },
    )


async def _sell(
    conn: Conn, keys: KeyRing, hold: asyncpg.Record, holder: str, email: str | None
) -> dict[str, Any]:
    seats = await conn.fetch(
        "SELECT id, ticket_type_id FROM seats WHERE hold_id = $1 AND status = 'held'"
        " ORDER BY id FOR UPDATE",
        hold["id"],
    )
    if hold["ticket_type_id"] is not None:
        type_ids = [hold["ticket_type_id"]] * hold["quantity"]
    else:
        if len(seats) != len(hold["seat_ids"]):
            raise Conflict(f"hold {hold['id']} lost seats")  # never: a bug, say so loudly
        type_ids = [s["ticket_type_id"] for s in seats]
    tickets = await issue_in(conn, keys, hold["event_id"], type_ids, holder, hold["owner_sub"])
    by_type: defaultdict[int, list[int]] = defaultdict(list)
    for ticket in tickets:
        by_type[ticket.ticket_type_id].append(ticket.id)
    if seats:
        await conn.execute(
            f"""UPDATE seats SET status = 'sold', ticket_id = x.ticket_id, {CHANGE}
                FROM unnest($1::bigint[], $2::bigint[]) AS x(seat_id, ticket_id)
                WHERE seats.id = x.seat_id""",
            [s["id"] for s in seats],
            [by_type[s["ticket_type_id"]].pop() for s in seats],
        )
    order = await conn.fetchrow(
        """INSERT INTO orders
             (hold_id, event_id, owner_sub, amount_minor, currency, ticket_ids, email)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
        hold["id"],
        hold["event_id"],
        hold["owner_sub"],
        hold["amount_minor"],
        hold["currency"],
        [t.id for t in tickets],
        email,
    )
    assert order is not None  # INSERT … RETURNING
    await conn.execute(
        "UPDATE holds SET state = 'confirmed', ended_at = now() WHERE id = $1", hold["id"]
    )
    return order_of(order, list(hold["seat_ids"]), tickets).to_wire()


async def release(request: CommandRequest, ctx: WorkerContext) -> tuple[dict[str, Any], Freed]:
    """seats.release: give a hold's seats or places back now (idempotent: `holds.released`
    is told once, by the release that ended it)."""
    hold_id = parse_id(request.params, "hold_id")
    freed = Freed()
    ids: list[int] = []
    async with ctx.pg.acquire() as conn, conn.transaction():
        hold = await conn.fetchrow(_HOLD, hold_id)
        if hold is None:
            raise NotFound(f"no hold {hold_id}")
        authorize(request.claims, hold)
        if hold["state"] == "confirmed":
            raise Conflict(f"hold {hold_id} is confirmed: it cannot be released")
        if hold["state"] == "active":
            ended = await free_holds(conn, [hold], "released", freed)
            ids = await outbox.enqueue_many(conn, ended)
            hold = await conn.fetchrow("SELECT * FROM holds WHERE id = $1", hold_id)
            assert hold is not None  # locked above, in this transaction
    ctx.publisher.submit(ids)
    return hold_of(hold).to_wire(), freed


async def free_holds(
    conn: Conn, holds: list[asyncpg.Record], state: str, freed: Freed
) -> list[Row]:
    """End active holds (rows locked by the caller) as `state`, giving back what they had;
    returns their `holds.released`/`holds.expired` events for the caller's outbox rows.

    GA counters are updated in type order, so two sweepers ending holds of the
    same types never wait on each other in a cycle.
    """
    ids = [h["id"] for h in holds]
    ended = await conn.fetch(
        """UPDATE holds SET state = $2, ended_at = now() WHERE id = ANY($1::bigint[])
           RETURNING id, event_id, quantity, ended_at""",
        ids,
        state,
    )
    for seat in await conn.fetch(
        f"""UPDATE seats SET status = 'available', hold_id = NULL, {CHANGE}
                WHERE hold_id = ANY($1::bigint[]) AND status = 'held'
                RETURNING event_id, section_id, ticket_type_id""",
        ids,
    ):
        freed.sections[seat["event_id"]].add(seat["section_id"])
        freed.types[seat["event_id"]].add(seat["ticket_type_id"])
    places: defaultdict[int, int] = defaultdict(int)
    for h in holds:
        if h["ticket_type_id"] is not None:
            places[h["ticket_type_id"]] += h["quantity"]
            freed.types[h["event_id"]].add(h["ticket_type_id"])
    for type_id in sorted(places):
        await conn.execute(
            f"UPDATE ga_counters SET held = held - $2, {CHANGE} WHERE ticket_type_id = $1",
            type_id,
            places[type_id],
        )
    kind = HOLD_ENDED[state]
    return [hold_event(kind, h["event_id"], h["id"], h["quantity"], h["ended_at"]) for h in ended]
