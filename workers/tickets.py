"""The tickets worker: issued tickets and gates (signing keys: workers/keys.py).

Codes are not stored: Ed25519 signatures are deterministic, so a ticket's
code is re-derived from the event key whenever it is shown. Ticket types are
workers/ticket_types.py; issuing takes from their stock like holds do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from bilten.infra import outbox
from bilten.protocol.checkin import GATE
from bilten.protocol.commands import CommandRequest
from bilten.protocol.domain_events import TICKET_ISSUED, TICKET_REVOKED, ticket_event
from bilten.protocol.errors import BadRequest, Conflict, Forbidden, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import MAX_ID, parse_int
from bilten.protocol.sales import Ticket
from bilten.protocol.tickets import TicketRef, sign_code
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.holds import CHANGE, Rejected, take_places
from bilten.workers.keys import EventKey, KeyRing
from bilten.workers.runner import CommandHandler
from bilten.workers.ticket_types import create_type, list_types, text_param, update_type

MAX_ISSUE = 1000


def ticket_of(row: asyncpg.Record, key: EventKey) -> Ticket:
    """A ticket row with its code, signed with the event's key."""
    return Ticket(
        row["id"],
        row["event_id"],
        row["ticket_type_id"],
        row["holder"],
        row["state"],
        sign_code(key.private, TicketRef(row["event_id"], row["id"])),
    )


async def issue(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """tickets.issue: `count` tickets of a type for a holder, with their codes.

    They come out of the same stock as holds (docs/allocation.md §Ticket types and issuing): a
    general-admission type's quota counter, or a seated type's first available
    seats in map order, which are sold to the new tickets. What does not fit
    is refused whole, `conflict` with `reason: "sold_out"` and `remaining`.
    """
    params = request.params
    event_id = parse_event_id(params)
    type_id = parse_int(params, "ticket_type_id", 1, MAX_ID)
    count = parse_int(params, "count", 1, MAX_ISSUE, default=1)
    holder = text_param(params, "holder")
    owner_sub = None if params.get("owner_sub") is None else text_param(params, "owner_sub", 64)
    # Made outside the transaction: a key cached by a rolled-back one would not exist.
    if await ctx.keys.get(ctx.pg, event_id, create=True) is None:
        raise NotFound(f"no event {event_id}")
    async with ctx.pg.acquire() as conn, conn.transaction():
        kind = await conn.fetchrow(
            """SELECT EXISTS (SELECT 1 FROM seated_types s WHERE s.ticket_type_id = t.id)
                      AS seated, now() AS at
               FROM ticket_types t WHERE t.id = $1 AND t.event_id = $2""",
            type_id,
            event_id,
        )
        if kind is None:
            raise NotFound(f"no ticket type {type_id} in event {event_id}")
        seated = kind["seated"]
        seat_ids = await _take_seats(conn, type_id, count) if seated else []
        if not seated:
            try:
                await take_places(conn, event_id, type_id, count, column="sold")
            except Rejected as refused:
                raise _sold_out(type_id, count, refused.details["available"]) from None
        tickets = await issue_in(conn, ctx.keys, event_id, [type_id] * count, holder, owner_sub)
        if seat_ids:
            await conn.execute(
                f"""UPDATE seats SET status = 'sold', ticket_id = x.ticket_id, {CHANGE}
                    FROM unnest($1::bigint[], $2::bigint[]) AS x(seat_id, ticket_id)
                    WHERE seats.id = x.seat_id""",
                seat_ids,
                [t.id for t in tickets],
            )
        ids = await outbox.enqueue_many(
            conn,
            [
                ticket_event(
                    TICKET_ISSUED, event_id, t.id, type_id, owner_sub, t.holder, kind["at"]
                )
                for t in tickets
            ],
        )
    ctx.publisher.submit(ids)
    return {"tickets": [t.to_wire() for t in tickets], "seat_ids": seat_ids}


def _sold_out(type_id: int, count: int, remaining: int) -> Conflict:
    return Conflict(
        f"only {remaining} of ticket type {type_id} left, {count} asked",
        field="count",
        reason="sold_out",
        ticket_type_id=type_id,
        remaining=remaining,
    )


async def _take_seats(conn: Conn, type_id: int, count: int) -> list[int]:
    """Lock the type's first `count` available seats (never waiting), or refuse."""
    seats = await conn.fetch(
        "SELECT id FROM seats WHERE ticket_type_id = $1 AND status = 'available'"
        " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        type_id,
        count,
    )
    if len(seats) < count:
        raise _sold_out(type_id, count, len(seats))
    return [s["id"] for s in seats]


async def issue_in(
    conn: Conn,
    keys: KeyRing,
    event_id: int,
    type_ids: Sequence[int],
    holder: str,
    owner_sub: str | None,
) -> list[Ticket]:
    """Issue one ticket per entry of `type_ids` in the caller's transaction, with codes.

    Each gets its `ticket_presence` row, so it can be scanned at the door once
    the transaction commits. The types must belong to the event.
    """
    key = await keys.get(conn, event_id, create=True)
    assert key is not None
    rows = await conn.fetch(
        """INSERT INTO tickets (event_id, ticket_type_id, holder, owner_sub)
           SELECT $1, t.type_id, $3, $4 FROM unnest($2::bigint[]) WITH ORDINALITY AS t(type_id, n)
           ORDER BY t.n
           RETURNING id, event_id, ticket_type_id, holder, state""",
        event_id,
        list(type_ids),
        holder,
        owner_sub,
    )
    await conn.execute(
        "INSERT INTO ticket_presence (ticket_id) SELECT unnest($1::bigint[])",
        [row["id"] for row in rows],
    )
    return [ticket_of(row, key) for row in rows]


async def _ticket(request: CommandRequest, ctx: WorkerContext) -> asyncpg.Record:
    ticket_id = parse_int(request.params, "ticket_id", 1, 2**63 - 1)
    row = await ctx.pg.fetchrow(
        """SELECT t.id, t.event_id, t.ticket_type_id, t.holder, t.state, t.owner_sub, e.org_id
           FROM tickets t JOIN events e ON e.id = t.event_id WHERE t.id = $1""",
        ticket_id,
    )
    claims = request.claims
    if row is None:
        raise NotFound(f"no ticket {ticket_id}")
    if claims.role == "service":
        return row
    if not claims.covers_event(row["event_id"], row["org_id"]):
        raise NotFound(f"no ticket {ticket_id}")
    if claims.role not in ("organizer",) and row["owner_sub"] != claims.sub:
        raise Forbidden("only the organizer or the ticket's owner may see it")
    return row


async def get(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """tickets.get: one ticket with its code (organizer, service, or its owner)."""
    row = await _ticket(request, ctx)
    key = await ctx.keys.get(ctx.pg, row["event_id"])
    assert key is not None
    return ticket_of(row, key).to_wire()


async def revoke(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """tickets.revoke: the ticket no longer admits anyone (idempotent: `tickets.revoked`
    is told once, by the revocation that changed it)."""
    row = await _ticket(request, ctx)
    if request.claims.role not in ("organizer", "service"):
        raise Forbidden("only organizers revoke tickets")
    ids: list[int] = []
    async with ctx.pg.acquire() as conn, conn.transaction():
        revoked = await conn.fetchrow(
            """UPDATE tickets SET state = 'revoked', revoked_at = COALESCE(revoked_at, now())
               WHERE id = $1
               RETURNING id, event_id, ticket_type_id, holder, state, owner_sub, revoked_at,
                         revoked_at = now() AS now_revoked""",
            row["id"],
        )
        if revoked is None:  # its event was deleted since
            raise NotFound(f"no ticket {row['id']}")
        if revoked["now_revoked"]:
            ids = await outbox.enqueue_many(
                conn,
                [
                    ticket_event(
                        TICKET_REVOKED,
                        revoked["event_id"],
                        revoked["id"],
                        revoked["ticket_type_id"],
                        revoked["owner_sub"],
                        revoked["holder"],
                        revoked["revoked_at"],
                    )
                ],
            )
    ctx.publisher.submit(ids)
    row = revoked
    key = await ctx.keys.get(ctx.pg, row["event_id"])
    assert key is not None
    return ticket_of(row, key).to_wire()


async def set_gates(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """gates.set: the event's gate names (and whether re-entry is allowed)."""
    params = request.params
    event_id = parse_event_id(params)
    gates = params.get("gates")
    if (
        not isinstance(gates, list)
        or not gates
        or len(gates) > 100
        or not all(isinstance(g, str) and GATE.match(g) for g in gates)
    ):
        raise BadRequest("gates must be 1-100 names of [A-Za-z0-9_-]", field="gates")
    reentry = params.get("allow_reentry")
    if reentry is not None and not isinstance(reentry, bool):
        raise BadRequest("allow_reentry must be true or false", field="allow_reentry")
    async with ctx.pg.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM events WHERE id = $1 FOR KEY SHARE", event_id):
            raise NotFound(f"no event {event_id}")
        await conn.execute(
            "DELETE FROM gates WHERE event_id = $1 AND name <> ALL($2::text[])", event_id, gates
        )
        await conn.execute(
            "INSERT INTO gates (event_id, name) SELECT $1, unnest($2::text[])"
            " ON CONFLICT DO NOTHING",
            event_id,
            sorted(set(gates)),
        )
        allow = await conn.fetchval(
            "UPDATE events SET allow_reentry = COALESCE($2, allow_reentry) WHERE id = $1"
            " RETURNING allow_reentry",
            event_id,
            reentry,
        )
    return {"event_id": event_id, "gates": sorted(set(gates)), "allow_reentry": allow}


async def list_tickets(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """tickets.list: the event's tickets by id, paged by `after`; `q` finds holders by part."""
    params = request.params
    event_id = parse_event_id(params)
    limit = parse_int(params, "limit", 1, 500, default=100)
    after = parse_int(params, "after", 0, MAX_ID, default=0)
    q = text_param(params, "q") if params.get("q") is not None else None
    rows = await ctx.pg.fetch(
        """SELECT id, event_id, ticket_type_id, holder, state FROM tickets
           WHERE event_id = $1 AND id > $2
             AND ($4::text IS NULL OR strpos(lower(holder), lower($4)) > 0)
           ORDER BY id LIMIT $3""",
        event_id,
        after,
        limit,
        q,
    )
    key = await ctx.keys.get(ctx.pg, event_id)
    tickets = [ticket_of(row, key).to_wire() for row in rows] if key is not None else []
    return {"tickets": tickets, "next": tickets[-1]["id"] if len(tickets) == limit else None}


async def list_gates(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """gates.list: the event's gate names and whether re-entry is allowed (as gates.set)."""
    event_id = parse_event_id(request.params)
    row = await ctx.pg.fetchrow(
        "SELECT allow_reentry, ARRAY(SELECT name FROM gates WHERE event_id = $1 ORDER BY name)"
        " AS gates FROM events WHERE id = $1",
        event_id,
    )
    if row is None:
        raise NotFound(f"no event {event_id}")
    return {
        "event_id": event_id,
        "gates": list(row["gates"]),
        "allow_reentry": row["allow_reentry"],
    }


HANDLERS: dict[str, CommandHandler] = {
    "tickettypes.create": create_type,
    "tickettypes.list": list_types,
    "tickettypes.update": update_type,
    "tickets.issue": issue,
    "tickets.get": get,
    "tickets.revoke": revoke,
    "tickets.list": list_tickets,
    "gates.set": set_gates,
    "gates.list": list_gates,
}
"""The tickets worker's command handlers."""
