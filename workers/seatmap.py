"""Seat maps: bulk creation, the compact map, and an event's allocation settings.

docs/allocation.md §Seat maps. One `seats.create` call inserts any number of
seats (a 50,000-seat stadium) with one INSERT … SELECT over unnest()ed
arrays, under an advisory lock that gives the call a contiguous block of seat
ids, so seat order by id is map order and snapshots run-length encode well.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from bilten.protocol.allocation import DEFAULT_LIMIT, DEFAULT_TTL_S, DEFAULT_WARN_S, parse_map
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.seats import CODES, GaCount, encode_runs, encode_states, id_runs
from bilten.workers.context import Conn, WorkerContext

# asyncpg prepares every statement; after five runs PostgreSQL may switch to a generic
# plan, which knows neither the event's size nor which seats are free, and picks scans
# of the whole table. Allocation transactions are short: plan each statement anew.
CUSTOM_PLANS = "set_config('plan_cache_mode', 'force_custom_plan', true)"

# Advisory lock keys (two-int form): class 1 is per buyer (hashtext of
# "namespace:event:sub"), class 2 per namespace and purpose (hashtext of
# "namespace:map" or "namespace:feed"). Advisory locks are database-wide and
# namespaces may share a database (one schema each): a lock keyed without the
# namespace would let one deployment's holds, seat feed or map creation hold up
# another's (event ids are per schema, so two deployments share them too).
BUYER_LOCK = 0x616C6C01
NAMESPACE_LOCK = 0x616C6C02
LOCK_BY_NAMESPACE = "$1::int, hashtext($2::text)"
"""The SQL arguments of a namespace lock; pass `NAMESPACE_LOCK, namespace_key(…)`."""


Purpose = Literal["map", "feed", "polls", "qa"]


def namespace_key(namespace: str, purpose: Purpose) -> str:
    """The text hashed into a namespace lock's second key: `namespace:purpose`."""
    return f"{namespace}:{purpose}"


async def try_namespace_lock(conn: Conn, namespace: str, purpose: Purpose) -> bool:
    """Take the namespace's `purpose` lock for this transaction, if no one holds it.

    The feeds tick in every worker and publish from the one that gets it.
    """
    taken: bool = await conn.fetchval(
        f"SELECT pg_try_advisory_xact_lock({LOCK_BY_NAMESPACE})",
        NAMESPACE_LOCK,
        namespace_key(namespace, purpose),
    )
    return taken


def buyer_key(namespace: str, event_id: int, sub: str) -> str:
    """The text hashed into a buyer lock's second key: `namespace:event:sub`."""
    return f"{namespace}:{event_id}:{sub}"


@dataclass(frozen=True, slots=True)
class HoldSettings:
    """An event's hold rules: default ttl, per-attendee cap, warning lead time."""

    ttl_s: int
    limit: int
    warn_s: int


async def hold_settings(conn: Conn, event_ids: Iterable[int]) -> dict[int, HoldSettings]:
    """The settings of each event, the defaults for one without; one query for a batch."""
    ids = sorted(set(event_ids))
    rows = await conn.fetch(
        "SELECT event_id, hold_ttl_s, hold_limit, warn_s FROM allocations"
        " WHERE event_id = ANY($1::bigint[])",
        ids,
    )
    found = {
        r["event_id"]: HoldSettings(r["hold_ttl_s"], r["hold_limit"], r["warn_s"]) for r in rows
    }
    default = HoldSettings(DEFAULT_TTL_S, DEFAULT_LIMIT, DEFAULT_WARN_S)
    return {event_id: found.get(event_id, default) for event_id in ids}


async def configure(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """seats.configure: hold ttl, per-attendee cap and warning lead time of an event."""
    params = request.params
    event_id = parse_event_id(params)
    bounds = {"hold_ttl_s": (10, 86400), "hold_limit": (1, 1000), "warn_s": (0, 3600)}
    values: dict[str, int | None] = {}
    for name, (low, high) in bounds.items():
        value = params.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
        ):
            raise BadRequest(f"{name} must be an integer from {low} to {high}", field=name)
        values[name] = value
    row = await ctx.pg.fetchrow(
        """INSERT INTO allocations (event_id, hold_ttl_s, hold_limit, warn_s)
           SELECT id, COALESCE($2::int, $5), COALESCE($3::int, $6), COALESCE($4::int, $7)
           FROM events WHERE id = $1
           ON CONFLICT (event_id) DO UPDATE SET
               hold_ttl_s = COALESCE($2::int, allocations.hold_ttl_s),
               hold_limit = COALESCE($3::int, allocations.hold_limit),
               warn_s = COALESCE($4::int, allocations.warn_s)
           RETURNING event_id, hold_ttl_s, hold_limit, warn_s""",
        event_id,
        values["hold_ttl_s"],
        values["hold_limit"],
        values["warn_s"],
        DEFAULT_TTL_S,
        DEFAULT_LIMIT,
        DEFAULT_WARN_S,
    )
    if row is None:
        raise NotFound(f"no event {event_id}")
    return dict(row)


async def create(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """seats.create: add sections (rows, seats) to the event's map in one transaction."""
    event_id = parse_event_id(request.params)
    sections = parse_map(request.params)
    type_ids = sorted(
        {r.ticket_type_id for s in sections for r in s.rows if r.ticket_type_id is not None}
    )
    section_names = [s.name for s in sections]
    row_sections = [s.name for s in sections for _ in s.rows]
    row_names = [r.name for s in sections for r in s.rows]
    async with ctx.pg.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM events WHERE id = $1 FOR KEY SHARE", event_id):
            raise NotFound(f"no event {event_id}")
        known = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM ticket_types WHERE event_id = $1 AND id = ANY($2::bigint[])",
                event_id,
                type_ids,
            )
        }
        if missing := [t for t in type_ids if t not in known]:
            raise BadRequest(
                f"no ticket type {missing[0]} in event {event_id}",
                field="ticket_type_id",
                ticket_type_ids=missing,
            )
        if general := await conn.fetch(
            "SELECT ticket_type_id FROM ga_counters WHERE ticket_type_id = ANY($1::bigint[])"
            " AND held + sold > 0",
            type_ids,
        ):
            raise Conflict(
                "general-admission places of these types are already held or sold",
                field="ticket_type_id",
                ticket_type_ids=[r["ticket_type_id"] for r in general],
            )
        # One map call at a time per namespace: its seats get consecutive ids, in map order.
        await conn.execute(
            f"SELECT pg_advisory_xact_lock({LOCK_BY_NAMESPACE})",
            NAMESPACE_LOCK,
            namespace_key(ctx.subjects.prefix, "map"),
        )
        if taken := await conn.fetch(
            "SELECT name FROM seat_sections WHERE event_id = $1 AND name = ANY($2::text[])",
            event_id,
            section_names,
        ):
            raise Conflict(
                f"section {taken[0]['name']!r} exists already",
                field="sections",
                sections=[r["name"] for r in taken],
            )
        section_ids = {
            r["name"]: r["id"]
            for r in await conn.fetch(
                """INSERT INTO seat_sections (event_id, name)
               SELECT $1, n FROM unnest($2::text[]) WITH ORDINALITY AS x(n, k) ORDER BY k
               RETURNING id, name""",
                event_id,
                section_names,
            )
        }
        row_ids = {
            (r["section_id"], r["name"]): r["id"]
            for r in await conn.fetch(
                """INSERT INTO seat_rows (section_id, name)
               SELECT s, n FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x(s, n, k)
               ORDER BY k RETURNING id, section_id, name""",
                [section_ids[name] for name in row_sections],
                row_names,
            )
        }
        columns: tuple[list[Any], ...] = ([], [], [], [], [])
        for section in sections:
            sid = section_ids[section.name]
            for row in section.rows:
                rid = row_ids[(sid, row.name)]
                for position, label in enumerate(row.labels, 1):
                    for column, value in zip(
                        columns, (sid, rid, position, label, row.ticket_type_id), strict=True
                    ):
                        column.append(value)
        created = await conn.fetchval(
            """WITH new AS (
                   INSERT INTO seats (event_id, section_id, row_id, position, label,
                                      ticket_type_id)
                   SELECT $1, s, r, p, l, t
                   FROM unnest($2::bigint[], $3::bigint[], $4::int[], $5::text[], $6::bigint[])
                        WITH ORDINALITY AS x(s, r, p, l, t, k)
                   ORDER BY k RETURNING 1)
               SELECT count(*) FROM new""",
            event_id,
            *columns,
        )
        await conn.execute(
            "INSERT INTO seated_types (ticket_type_id, event_id) SELECT unnest($2::bigint[]), $1"
            " ON CONFLICT DO NOTHING",
            event_id,
            type_ids,
        )
        version = await conn.fetchval(
            """INSERT INTO allocations (event_id, map_version, changed_xid)
               VALUES ($1, 1, pg_current_xact_id())
               ON CONFLICT (event_id) DO UPDATE SET map_version = allocations.map_version + 1,
                                                    changed_xid = pg_current_xact_id()
               RETURNING map_version""",
            event_id,
        )
    return {
        "event_id": event_id,
        "map_version": version,
        "sections": len(sections),
        "rows": len(row_names),
        "seats": created,
    }


async def ga_counts(conn: Conn | asyncpg.Pool, event_id: int) -> dict[int, GaCount]:
    """General-admission types of the event (those without seats) and their counters."""
    rows = await conn.fetch(
        """SELECT t.id, t.quota, COALESCE(c.held, 0) AS held, COALESCE(c.sold, 0) AS sold,
                  COALESCE(c.version, 0) AS version
           FROM ticket_types t LEFT JOIN ga_counters c ON c.ticket_type_id = t.id
           WHERE t.event_id = $1
             AND NOT EXISTS (SELECT 1 FROM seated_types s WHERE s.ticket_type_id = t.id)
           ORDER BY t.id""",
        event_id,
    )
    return {r["id"]: GaCount(r["quota"], r["held"], r["sold"], r["version"]) for r in rows}


async def seat_map(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """seats.map: sections → rows → seats (ids, labels, types, states), compactly.

    Per row: `ids` as [first, count] ranges, `labels` (null when they are the
    positions 1..n), `types` as [ticket_type_id, count] runs and `states` as
    run-length text (`"28a2h"`), all in seat order.
    """
    event_id = parse_event_id(request.params)
    async with (
        ctx.pg.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        await conn.execute(f"SELECT {CUSTOM_PLANS}")
        sections = await conn.fetch(
            "SELECT id, name FROM seat_sections WHERE event_id = $1 ORDER BY id", event_id
        )
        rows = await conn.fetch(
            """SELECT r.id, r.section_id, r.name FROM seat_rows r
               JOIN seat_sections s ON s.id = r.section_id WHERE s.event_id = $1
               ORDER BY r.id""",
            event_id,
        )
        seats = await conn.fetch(
            """SELECT id, row_id, position, label, ticket_type_id, status FROM seats
               WHERE event_id = $1 ORDER BY id""",
            event_id,
        )
        version = await conn.fetchval(
            "SELECT map_version FROM allocations WHERE event_id = $1", event_id
        )
        ga = await ga_counts(conn, event_id)
    by_row: defaultdict[int, list[asyncpg.Record]] = defaultdict(list)
    for seat in seats:
        by_row[seat["row_id"]].append(seat)
    by_section: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        members = by_row[row["id"]]
        numbered = all(s["label"] == str(s["position"]) for s in members)
        by_section[row["section_id"]].append(
            {
                "id": row["id"],
                "name": row["name"],
                "ids": id_runs(s["id"] for s in members),
                "labels": None if numbered else [s["label"] for s in members],
                "types": encode_runs(s["ticket_type_id"] for s in members),
                "states": encode_states(s["status"] for s in members),
            }
        )
    return {
        "event_id": event_id,
        "map_version": version or 0,
        "seats": len(seats),
        "sections": [
            {"id": s["id"], "name": s["name"], "rows": by_section[s["id"]]} for s in sections
        ],
        "ga": [
            {
                "ticket_type_id": t,
                "quota": c.quota,
                "held": c.held,
                "sold": c.sold,
                "available": c.available,
            }
            for t, c in ga.items()
        ],
        "states": dict(CODES),
    }
