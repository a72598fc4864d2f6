"""Ticket types of the tickets worker: create, list with what is left, edit.

docs/allocation.md §Ticket types and issuing. A type with seats on the map is seated and
its capacity is its seats; any other is general admission, limited by its
`quota` through the `ga_counters` row that holds and `tickets.issue` both add
to. So the counts shown here are the ones allocation enforces, and a quota
can be lowered only down to what is already held and sold.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import MAX_ID, parse_int
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.holds import CHANGE

MAX_PRICE = 10**12
MAX_QUOTA = 10**7
_TYPE = "t.id, t.event_id, t.name, t.price_minor, t.currency, t.quota"

# Held, sold and remaining per type: GA from its counter (no counter: nothing yet),
# seated from its seats.
_COUNTS = f"""
    SELECT {_TYPE},
           EXISTS (SELECT 1 FROM seated_types s WHERE s.ticket_type_id = t.id) AS seated,
           COALESCE(c.held, 0) AS ga_held, COALESCE(c.sold, 0) AS ga_sold,
           st.seats_held, st.seats_sold, st.seats_free
    FROM ticket_types t LEFT JOIN ga_counters c ON c.ticket_type_id = t.id
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE status = 'held') AS seats_held,
               count(*) FILTER (WHERE status = 'sold') AS seats_sold,
               count(*) FILTER (WHERE status = 'available') AS seats_free
        FROM seats WHERE seats.ticket_type_id = t.id) st"""


def text_param(params: dict[str, Any], name: str, limit: int = 200) -> str:
    """`params[name]` as trimmed text of 1-`limit` characters without control characters."""
    value = params.get(name)
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > limit
        or any(ord(c) < 32 for c in value)
    ):
        raise BadRequest(f"{name} must be text of 1-{limit} characters", field=name)
    return value.strip()


def type_json(row: asyncpg.Record) -> dict[str, Any]:
    """A ticket type with `seated`, `held`, `sold` and `remaining` (null: unlimited)."""
    if row["seated"]:
        held, sold, remaining = row["seats_held"], row["seats_sold"], row["seats_free"]
    else:
        held, sold = row["ga_held"], row["ga_sold"]
        remaining = None if row["quota"] is None else max(0, row["quota"] - held - sold)
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "name": row["name"],
        "price_minor": row["price_minor"],
        "currency": row["currency"],
        "quota": row["quota"],
        "seated": row["seated"],
        "held": held,
        "sold": sold,
        "remaining": remaining,
    }


def _quota(params: dict[str, Any]) -> int | None:
    return None if params.get("quota") is None else parse_int(params, "quota", 0, MAX_QUOTA)


async def create_type(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """tickettypes.create: a ticket type with a price in minor units and optional quota;
    answered in the shape tickettypes.list shows it."""
    params = request.params
    event_id = parse_event_id(params)
    name = text_param(params, "name")
    price = parse_int(params, "price_minor", 0, MAX_PRICE)
    quota = _quota(params)
    currency = params.get("currency")
    if currency is not None and (
        not isinstance(currency, str)
        or len(currency) != 3
        or not currency.isupper()
        or not currency.isalpha()
    ):
        raise BadRequest("currency must be an ISO 4217 code", field="currency")
    type_id = await ctx.pg.fetchval(
        """INSERT INTO ticket_types (event_id, name, price_minor, currency, quota)
           SELECT id, $2, $3, COALESCE($4, currency), $5 FROM events WHERE id = $1
           RETURNING id""",
        event_id,
        name,
        price,
        currency,
        quota,
    )
    if type_id is None:
        raise NotFound(f"no event {event_id}")
    row = await ctx.pg.fetchrow(f"{_COUNTS} WHERE t.id = $1", type_id)
    if row is None:  # deleted with its event since
        raise NotFound(f"no ticket type {type_id}")
    return type_json(row)


async def list_types(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """tickettypes.list: the event's ticket types, each with held, sold and remaining."""
    rows = await ctx.pg.fetch(
        f"{_COUNTS} WHERE t.event_id = $1 ORDER BY t.id", parse_event_id(request.params)
    )
    return {"ticket_types": [type_json(row) for row in rows]}


async def update_type(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """tickettypes.update: change name, price or quota; the quota not below held + sold.

    The GA counter's row lock serializes the change with holds and issues, so
    none of them can slip in between the check and the new quota.
    """
    params = request.params
    event_id = parse_event_id(params)
    type_id = parse_int(params, "ticket_type_id", 1, MAX_ID)
    name = text_param(params, "name") if params.get("name") is not None else None
    price = (
        parse_int(params, "price_minor", 0, MAX_PRICE)
        if params.get("price_minor") is not None
        else None
    )
    quota = _quota(params)
    if name is None and price is None and "quota" not in params:
        raise BadRequest("nothing to change", fields=["name", "price_minor", "quota"])
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id FROM ticket_types WHERE id = $1 AND event_id = $2 FOR NO KEY UPDATE",
            type_id,
            event_id,
        )
        if row is None:
            raise NotFound(f"no ticket type {type_id} in event {event_id}")
        if "quota" in params:
            await _set_quota(conn, event_id, type_id, quota)
        await conn.execute(
            """UPDATE ticket_types SET name = COALESCE($2, name),
                   price_minor = COALESCE($3, price_minor) WHERE id = $1""",
            type_id,
            name,
            price,
        )
        row = await conn.fetchrow(f"{_COUNTS} WHERE t.id = $1", type_id)
    assert row is not None  # locked above, in this transaction
    return type_json(row)


async def _set_quota(conn: Conn, event_id: int, type_id: int, quota: int | None) -> None:
    """New quota of a type, not below what is held and sold.

    A general-admission type's counter takes it too (locked, so holds and
    issues wait for it and then see it; the seats feed publishes it). A seated
    type's capacity is its seats: its quota is only checked against them.
    """
    if await conn.fetchval("SELECT 1 FROM seated_types WHERE ticket_type_id = $1", type_id):
        taken = await conn.fetchval(
            "SELECT count(*) FROM seats WHERE ticket_type_id = $1 AND status <> 'available'",
            type_id,
        )
    else:
        await conn.execute(
            """INSERT INTO ga_counters (ticket_type_id, event_id, quota) VALUES ($1, $2, $3)
               ON CONFLICT (ticket_type_id) DO NOTHING""",
            type_id,
            event_id,
            quota,
        )
        counter = await conn.fetchrow(
            "SELECT held, sold FROM ga_counters WHERE ticket_type_id = $1 FOR UPDATE", type_id
        )
        assert counter is not None  # inserted just above if it was missing
        taken = counter["held"] + counter["sold"]
    if quota is not None and quota < taken:
        raise Conflict(
            f"quota {quota} is below the {taken} places held or sold",
            field="quota",
            reason="below_taken",
            taken=taken,
        )
    await conn.execute(
        f"UPDATE ga_counters SET quota = $2, {CHANGE} WHERE ticket_type_id = $1", type_id, quota
    )
    await conn.execute("UPDATE ticket_types SET quota = $2 WHERE id = $1", type_id, quota)
