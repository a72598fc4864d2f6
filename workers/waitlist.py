"""Waiting lists: sold-out ticket types and sections, first come first offered.

docs/allocation.md §Waiting lists. When a hold ends (expiry or release) the
places it frees are offered, in line order, to those waiting for that type or
section: the worker places a hold for them (with the event's ttl, under their
per-attendee cap) and publishes it on their channel `user.{sub}`. An offer
that cannot be filled now leaves the rest of that line waiting.
"""

from __future__ import annotations

import logging
from typing import Any

from bilten.infra import outbox
from bilten.protocol.allocation import HoldRequest, parse_hold
from bilten.protocol.channels import user_channel
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Conflict
from bilten.protocol.events import parse_event_id
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.hold_batch import hold_in
from bilten.workers.holds import Buyer, Rejected, hold_of
from bilten.workers.seatmap import CUSTOM_PLANS

log = logging.getLogger(__name__)
_LINE_BATCH = 50


async def join(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """seats.waitlist.join: wait for a sold-out type or section."""
    params = request.params
    event_id = parse_event_id(params)
    wanted = parse_hold(
        {
            k: params[k]
            for k in ("ticket_type_id", "section", "section_id", "quantity")
            if params.get(k) is not None
        }
    )
    async with ctx.pg.acquire() as conn, conn.transaction():
        await conn.execute(f"SELECT {CUSTOM_PLANS}")
        section_id = wanted.section_id
        if wanted.section is not None:
            section_id = await conn.fetchval(
                "SELECT id FROM seat_sections WHERE event_id = $1 AND name = $2",
                event_id,
                wanted.section,
            )
        elif section_id is not None:
            section_id = await conn.fetchval(
                "SELECT id FROM seat_sections WHERE event_id = $1 AND id = $2", event_id, section_id
            )
        if section_id is None and wanted.ticket_type_id is None:
            raise BadRequest("no such section in this event", field="section")
        kind = None
        if wanted.ticket_type_id is not None:
            kind = await conn.fetchrow(
                """SELECT EXISTS (SELECT 1 FROM seated_types s WHERE s.ticket_type_id = t.id)
                          AS seated, t.quota, c.held, c.sold
                   FROM ticket_types t LEFT JOIN ga_counters c ON c.ticket_type_id = t.id
                   WHERE t.id = $1 AND t.event_id = $2""",
                wanted.ticket_type_id,
                event_id,
            )
            if kind is None:
                raise BadRequest(
                    f"no ticket type {wanted.ticket_type_id} in event {event_id}",
                    field="ticket_type_id",
                )
        if kind is not None and not kind["seated"] and section_id is None:
            left = (
                None
                if kind["quota"] is None
                else kind["quota"] - (kind["held"] or 0) - (kind["sold"] or 0)
            )
        else:
            left = await conn.fetchval(
                """SELECT count(*) FROM (SELECT 1 FROM seats
                   WHERE event_id = $1 AND status = 'available' AND ticket_type_id IS NOT NULL
                     AND ($2::bigint IS NULL OR ticket_type_id = $2)
                     AND ($3::bigint IS NULL OR section_id = $3) LIMIT $4) AS free""",
                event_id,
                wanted.ticket_type_id,
                section_id,
                wanted.quantity,
            )
        if left is None or left >= wanted.quantity:
            raise Conflict("places are available: hold them instead", field="quantity")
        entry = await conn.fetchrow(
            """INSERT INTO waitlist (event_id, owner_sub, ticket_type_id, section_id, quantity)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (event_id, owner_sub, COALESCE(ticket_type_id, 0),
                            COALESCE(section_id, 0)) WHERE state = 'waiting' DO NOTHING
               RETURNING id""",
            event_id,
            request.claims.sub,
            wanted.ticket_type_id,
            section_id,
            wanted.quantity,
        )
        entry_id = (
            entry["id"]
            if entry
            else await conn.fetchval(
                """SELECT id FROM waitlist WHERE event_id = $1 AND owner_sub = $2
               AND state = 'waiting' AND ticket_type_id IS NOT DISTINCT FROM $3
               AND section_id IS NOT DISTINCT FROM $4""",
                event_id,
                request.claims.sub,
                wanted.ticket_type_id,
                section_id,
            )
        )
        position = await conn.fetchval(
            """SELECT count(*) FROM waitlist WHERE event_id = $1 AND state = 'waiting'
               AND ticket_type_id IS NOT DISTINCT FROM $2 AND section_id IS NOT DISTINCT FROM $3
               AND id <= $4""",
            event_id,
            wanted.ticket_type_id,
            section_id,
            entry_id,
        )
    return {
        "status": "waiting",
        "waitlist_id": entry_id,
        "position": position,
        "event_id": event_id,
        "ticket_type_id": wanted.ticket_type_id,
        "section_id": section_id,
        "quantity": wanted.quantity,
    }


async def offer(ctx: WorkerContext, event_id: int, types: set[int], sections: set[int]) -> int:
    """Offer freed places of these types/sections to the waiting; returns offers made."""
    entries = await ctx.pg.fetch(
        """SELECT id FROM waitlist WHERE event_id = $1 AND state = 'waiting'
           AND (ticket_type_id = ANY($2::bigint[]) OR section_id = ANY($3::bigint[]))
           ORDER BY id LIMIT $4""",
        event_id,
        sorted(types),
        sorted(sections),
        _LINE_BATCH,
    )
    exhausted: set[tuple[int | None, int | None]] = set()
    offered = 0
    for entry in entries:
        async with ctx.pg.acquire() as conn, conn.transaction():
            outbox_ids = await _offer_one(
                conn, ctx.subjects.prefix, event_id, entry["id"], exhausted
            )
        if outbox_ids is not None:
            await outbox.flush(ctx.deps, outbox_ids)
            offered += 1
    return offered


async def _offer_one(
    conn: Conn,
    namespace: str,
    event_id: int,
    entry_id: int,
    exhausted: set[tuple[int | None, int | None]],
) -> list[int] | None:
    """Hold places for one waiting entry and queue the offer and `holds.placed`: their
    outbox ids, or None."""
    entry = await conn.fetchrow(
        "SELECT * FROM waitlist WHERE id = $1 AND state = 'waiting' FOR UPDATE SKIP LOCKED",
        entry_id,
    )
    if entry is None:
        return None  # taken by another worker's sweep, or no longer waiting
    target = (entry["ticket_type_id"], entry["section_id"])
    if target in exhausted:
        return None
    wanted = HoldRequest(
        ticket_type_id=entry["ticket_type_id"],
        section_id=entry["section_id"],
        quantity=entry["quantity"],
        together=False,
        nonce=f"waitlist:{entry_id}",
    )
    try:
        async with conn.transaction():  # a savepoint: a refused offer leaves no trace
            hold, placed = await hold_in(
                conn,
                namespace,
                event_id,
                Buyer(entry["owner_sub"], True),
                wanted,
                waitlist_id=entry_id,
            )
    except Rejected as refused:
        if refused.reason != "limit_exceeded":
            exhausted.add(target)  # nothing left for this line now
            return None
        log.info("waiting-list entry %d skipped: its owner is at the cap", entry_id)
        await conn.execute("UPDATE waitlist SET state = 'skipped' WHERE id = $1", entry_id)
        return None
    except BadRequest as refused:  # e.g. the places left are in two currencies
        log.info("waiting-list entry %d skipped: %s", entry_id, refused)
        await conn.execute("UPDATE waitlist SET state = 'skipped' WHERE id = $1", entry_id)
        return None
    await conn.execute(
        "UPDATE waitlist SET state = 'offered', hold_id = $2 WHERE id = $1", entry_id, hold["id"]
    )
    offer = {"type": "hold.offered", "waitlist_id": entry_id, **hold_of(hold).to_wire()}
    return await outbox.enqueue_many(
        conn, [outbox.publication(user_channel(entry["owner_sub"]).name, offer), *placed]
    )
