"""seats.hold in batches: many holds decided in one transaction, each with its own outcome.

docs/allocation.md §Holds and §Design. Alone, each hold pays for a transaction
(BEGIN, its buyer lock and reads, COMMIT and its fsync); under a rush the
runner hands `hold` every request that queued while the previous batch was
decided (workers/batching.py), and one transaction decides them all:

- the buyers' advisory locks first, all of them, in the order of the lock
  keys, so two batches (lanes, workers) never wait on each other in a cycle;
- then one query each for what the holds need: nonces already used, the
  capped buyers' live places, the events' hold settings, the asked types;
- then each hold under its own savepoint, so a refused or invalid one rolls
  back alone and the rest commit. General-admission holds go last, sorted by
  ticket type: their counter rows are the only locks a hold waits for (seats
  are taken `SKIP LOCKED`), so taken in one order everywhere they cannot
  deadlock, and held no longer than the rest of the batch.

A batch is at most 32 holds: PostgreSQL caches 64 subtransaction ids per
transaction (a best-available hold may use a few), and beyond them every
snapshot in the database gets slower.

What a hold does is known to those after it in the batch: a second hold with
the same nonce returns the first, and the cap counts the places just held. The
waiting list places its single offers with `hold_in`, the same code for a
batch of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bilten.infra import outbox
from bilten.protocol.allocation import HoldRequest, parse_hold
from bilten.protocol.commands import CommandRequest
from bilten.protocol.domain_events import HOLD_PLACED, Row, hold_event
from bilten.protocol.errors import BadRequest, BiltenError, Conflict
from bilten.protocol.events import parse_event_id
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.holds import (
    CHANGE,
    Buyer,
    Rejected,
    general,
    hold_of,
    pick,
    take_places,
    ticket_kinds,
)
from bilten.workers.seatmap import (
    BUYER_LOCK,
    CUSTOM_PLANS,
    HoldSettings,
    buyer_key,
    hold_settings,
)

LANES = 8
"""Batches decided at once per worker: a lane sends one statement at a time and waits on
PostgreSQL most of the time, so several keep it busy (alone, holds run 64 at once)."""
MOST = 32
"""Holds per batch at most, within the subtransaction ids PostgreSQL caches (above)."""

_LOCK_BUYERS = f"""
    SELECT {CUSTOM_PLANS}, (
        SELECT count(pg_advisory_xact_lock($1, k))
        FROM (SELECT DISTINCT hashtext(t) AS k FROM unnest($2::text[]) AS t ORDER BY k) AS keys)"""

_STORED_NONCES = """
    SELECT h.* FROM holds h
    JOIN unnest($1::bigint[], $2::text[], $3::text[]) AS x(event_id, sub, nonce)
      ON h.event_id = x.event_id AND h.owner_sub = x.sub AND h.nonce = x.nonce"""

_LIVE_PLACES = """
    SELECT h.event_id, h.owner_sub, sum(h.quantity) AS taken FROM holds h
    JOIN (SELECT DISTINCT * FROM unnest($1::bigint[], $2::text[])) AS x(event_id, sub)
      ON h.event_id = x.event_id AND h.owner_sub = x.sub
    WHERE h.state = 'confirmed' OR (h.state = 'active' AND h.expires_at > now())
    GROUP BY h.event_id, h.owner_sub"""

# One statement for the hold row and its seats (none for general admission).
_INSERT_HOLD = f"""
    WITH hold AS (
        INSERT INTO holds (event_id, owner_sub, nonce, ticket_type_id, quantity, seat_ids,
                           amount_minor, currency, expires_at, warn_at, waitlist_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9),
                now() + make_interval(secs => $9 - least($10, $9 / 2.0)), $11)
        RETURNING *),
    seated AS (
        UPDATE seats SET status = 'held', hold_id = (SELECT id FROM hold), {CHANGE}
        WHERE id = ANY($6::bigint[]))
    SELECT * FROM hold"""


@dataclass(frozen=True, slots=True)
class Ask:
    """One hold asked for: in which event, by whom, what (and for which waiting entry)."""

    event_id: int
    buyer: Buyer
    wanted: HoldRequest
    waitlist_id: int | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """What a batch reads once under its buyers' locks, kept up to date as holds are made:
    holds by (event, buyer, nonce), capped buyers' live places, settings, asked types,
    and the `holds.placed` events of the holds it made (not of those a nonce returned)."""

    nonces: dict[tuple[int, str, str], asyncpg.Record]
    taken: dict[tuple[int, str], int]
    rules: dict[int, HoldSettings]
    kinds: dict[int, asyncpg.Record]
    placed: list[Row] = field(default_factory=list)


async def hold(requests: Sequence[CommandRequest], ctx: WorkerContext) -> list[Any]:
    """seats.hold, a batch at a time: per request a hold, a rejection or an error."""
    outcomes: list[Any] = [None] * len(requests)
    asks: dict[int, Ask] = {}
    for n, request in enumerate(requests):
        try:
            buyer = Buyer(request.claims.sub, request.claims.role == "attendee")
            asks[n] = Ask(parse_event_id(request.params), buyer, parse_hold(request.params))
        except BiltenError as error:
            outcomes[n] = error
    if not asks:
        return outcomes
    async with ctx.pg.acquire() as conn, conn.transaction():
        known = await prepare(conn, ctx.subjects.prefix, asks.values())
        order = sorted(asks, key=lambda n: _turn(asks[n], known, n))
        # One savepoint, renewed in the round trip that keeps a hold's changes, or rolled
        # back to (which keeps it for the next hold): one round trip per hold, not two.
        await conn.execute("SAVEPOINT hold")
        for k, n in enumerate(order):
            outcomes[n], kept = await _decide(conn, known, asks[n])
            if not kept:
                await conn.execute("ROLLBACK TO SAVEPOINT hold")
            elif k + 1 < len(order):
                await conn.execute("RELEASE SAVEPOINT hold; SAVEPOINT hold")
        ids = await outbox.enqueue_many(conn, known.placed)  # the batch's events: one statement
    ctx.publisher.submit(ids)
    return outcomes


def _turn(ask: Ask, known: Known, n: int) -> tuple[int, int, int]:
    """Seats first, in arrival order; then general admission by ticket type."""
    kind = known.kinds.get(ask.wanted.ticket_type_id or 0)
    if general(ask.event_id, ask.wanted, kind):
        return 1, ask.wanted.ticket_type_id or 0, n
    return 0, 0, n


async def _decide(conn: Conn, known: Known, ask: Ask) -> tuple[Any, bool]:
    """One hold under the batch's savepoint: its answer, or the error that is its alone, and
    whether its changes stay (else the caller rolls back to the savepoint)."""
    try:
        row = await place(conn, known, ask)
    except Rejected as rejected:
        return rejected.reply(), False
    except BiltenError as error:
        return error, False
    except asyncpg.CheckViolationError as error:
        rule = error.constraint_name
        return Conflict("the hold would break a rule of the stock", constraint=rule), False
    return hold_of(row).to_wire(), True


async def hold_in(
    conn: Conn,
    namespace: str,
    event_id: int,
    buyer: Buyer,
    wanted: HoldRequest,
    *,
    waitlist_id: int | None = None,
) -> tuple[asyncpg.Record, list[Row]]:
    """Place one hold in the caller's transaction; raises Rejected (roll back) or BadRequest.

    Returns the hold and its `holds.placed` event (none when its nonce found an earlier one)
    for the caller's outbox rows.
    """
    ask = Ask(event_id, buyer, wanted, waitlist_id)
    known = await prepare(conn, namespace, [ask])
    return await place(conn, known, ask), known.placed


async def prepare(conn: Conn, namespace: str, batch: Iterable[Ask]) -> Known:
    """Take the buyers' locks (sorted), then read what the holds need, a query each."""
    asks = list(batch)
    keys = [buyer_key(namespace, a.event_id, a.buyer.sub) for a in asks]
    await conn.execute(_LOCK_BUYERS, BUYER_LOCK, keys)
    nonced = [a for a in asks if a.wanted.nonce is not None]
    capped = [a for a in asks if a.buyer.capped]
    nonces, taken = {}, {}
    if nonced:
        rows = await conn.fetch(
            _STORED_NONCES,
            [a.event_id for a in nonced],
            [a.buyer.sub for a in nonced],
            [a.wanted.nonce for a in nonced],
        )
        nonces = {(r["event_id"], r["owner_sub"], r["nonce"]): r for r in rows}
    if capped:
        rows = await conn.fetch(
            _LIVE_PLACES, [a.event_id for a in capped], [a.buyer.sub for a in capped]
        )
        taken = {(r["event_id"], r["owner_sub"]): r["taken"] for r in rows}
    types = [a.wanted.ticket_type_id for a in asks if a.wanted.ticket_type_id is not None]
    return Known(
        nonces,
        taken,
        await hold_settings(conn, (a.event_id for a in asks)),
        await ticket_kinds(conn, types) if types else {},
    )


async def place(conn: Conn, known: Known, ask: Ask) -> asyncpg.Record:
    """Place a hold with what the batch knows; raises Rejected, BadRequest or Conflict."""
    event_id, buyer, wanted = ask.event_id, ask.buyer, ask.wanted
    mine = (event_id, buyer.sub)
    if wanted.nonce is not None and (stored := known.nonces.get((*mine, wanted.nonce))):
        if stored["quantity"] != wanted.quantity or (
            wanted.seat_ids and sorted(stored["seat_ids"]) != sorted(wanted.seat_ids)
        ):
            raise Conflict("this nonce was used for another hold", field="nonce")
        return stored
    rules = known.rules[event_id]
    taken = known.taken.get(mine, 0)
    if buyer.capped and taken + wanted.quantity > rules.limit:
        raise Rejected("limit_exceeded", limit=rules.limit, taken=taken)
    seats, ga_type = await pick(conn, event_id, wanted, known.kinds.get(wanted.ticket_type_id or 0))
    if ga_type is not None:
        amount, currency = ga_type["price_minor"] * wanted.quantity, ga_type["currency"]
    else:
        currencies = {s["currency"] for s in seats}
        if len(currencies) != 1:
            raise BadRequest(
                "the seats of one hold must be priced in one currency",
                field="seat_ids",
                currencies=sorted(c.strip() for c in currencies),
            )
        amount, currency = sum(s["price_minor"] for s in seats), currencies.pop()
    # Attendees may shorten their hold (tests, quick checkouts), never lengthen it.
    ttl = wanted.ttl_s or rules.ttl_s
    if buyer.capped:
        ttl = min(ttl, rules.ttl_s)
    row = await conn.fetchrow(
        _INSERT_HOLD,
        event_id,
        buyer.sub,
        wanted.nonce,
        ga_type["id"] if ga_type else None,
        wanted.quantity,
        [s["id"] for s in seats],
        amount,
        currency,
        float(ttl),
        float(rules.warn_s),
        ask.waitlist_id,
    )
    assert row is not None  # INSERT … RETURNING
    if ga_type is not None:
        await take_places(conn, event_id, ga_type["id"], wanted.quantity)
    if buyer.capped:
        known.taken[mine] = taken + wanted.quantity
    if wanted.nonce is not None:
        known.nonces[(*mine, wanted.nonce)] = row
    # Last: a hold refused after its INSERT is rolled back to its savepoint with no event.
    known.placed.append(
        hold_event(HOLD_PLACED, event_id, row["id"], wanted.quantity, row["created_at"])
    )
    return row
