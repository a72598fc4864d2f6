"""The events worker: organizers' events in PostgreSQL.

Serves `events.*` commands. Writes publish a domain event (`events.created`,
`events.updated`, `events.deleted`) to the JetStream event log, with a message
id so a retried publish is stored once.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

import asyncpg

from bilten.infra import outbox
from bilten.protocol.commands import INTERNAL_EVENT_OWNER, CommandRequest
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.protocol.events import EventFields, parse_event_fields, parse_event_id
from bilten.protocol.params import MAX_ID, parse_int
from bilten.workers.context import WorkerContext
from bilten.workers.runner import CommandHandler

_COLUMNS = (
    "id, org_id, name, starts_at, ends_at, timezone, locale, currency, created_at, updated_at"
)


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    """An events row as the API shows it."""
    return {
        "id": row["id"],
        "org": row["org_id"],
        "name": row["name"],
        "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(),
        "timezone": row["timezone"],
        "locale": row["locale"],
        "currency": row["currency"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _check_timezone(fields: EventFields) -> None:
    if fields.timezone is None:
        return
    try:
        zoneinfo.ZoneInfo(fields.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"unknown time zone {fields.timezone!r}", field="timezone") from None


async def create(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """events.create: a new event in the caller's organization."""
    fields = parse_event_fields(request.params, partial=False)
    _check_timezone(fields)
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO events (org_id, name, starts_at, ends_at, timezone, locale, currency)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}""",
            request.claims.org,
            fields.name,
            fields.starts_at,
            fields.ends_at,
            fields.timezone,
            fields.locale,
            fields.currency,
        )
        assert row is not None  # inserted, or updated under the row lock taken above
        event = event_json(row)
        outbox_id = await outbox.enqueue(
            conn, "events.created", {"event_id": event["id"], "event": event}
        )
    ctx.publisher.submit([outbox_id])  # committed: told once the stream takes it
    return event


async def get(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """events.get: one event the token covers (others look absent)."""
    event_id = parse_event_id(request.params)
    row = await ctx.pg.fetchrow(f"SELECT {_COLUMNS} FROM events WHERE id = $1", event_id)
    claims = request.claims
    if row is None or (
        claims.role != "service" and not claims.covers_event(event_id, row["org_id"])
    ):
        raise NotFound(f"no event {event_id}")
    return event_json(row)


async def list_events(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """events.list: events the token covers, by start time, paged by `after` (an id)."""
    limit = parse_int(request.params, "limit", 1, 500, default=100)
    after = parse_int(request.params, "after", 0, MAX_ID, default=0)
    claims = request.claims
    args: list[Any] = [after, limit]
    where = "id > $1"
    if claims.role != "service":
        args.append(claims.org)
        where += " AND org_id = $3"
        if claims.events != "*":
            args.append(list(claims.events))
            where += " AND id = ANY($4::bigint[])"
    rows = await ctx.pg.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY id LIMIT $2", *args
    )
    events = [event_json(row) for row in rows]
    return {"events": events, "next": events[-1]["id"] if len(events) == limit else None}


async def update(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """events.update: change some fields of an event of the caller's organization."""
    event_id = parse_event_id(request.params)
    fields = parse_event_fields(
        {k: v for k, v in request.params.items() if k != "event_id"}, partial=True
    )
    _check_timezone(fields)
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM events WHERE id = $1 FOR UPDATE", event_id
        )
        claims = request.claims
        if row is None or (
            claims.role != "service" and not claims.covers_event(event_id, row["org_id"])
        ):
            raise NotFound(f"no event {event_id}")
        starts: datetime = fields.starts_at or row["starts_at"]
        ends: datetime = fields.ends_at or row["ends_at"]
        if ends <= starts:
            raise BadRequest("ends_at must be after starts_at", field="ends_at")
        row = await conn.fetchrow(
            f"""UPDATE events SET name = COALESCE($2, name), starts_at = $3, ends_at = $4,
                    timezone = COALESCE($5, timezone), locale = COALESCE($6, locale),
                    currency = COALESCE($7, currency), updated_at = now()
                WHERE id = $1 RETURNING {_COLUMNS}""",
            event_id,
            fields.name,
            starts,
            ends,
            fields.timezone,
            fields.locale,
            fields.currency,
        )
        assert row is not None  # inserted, or updated under the row lock taken above
        event = event_json(row)
        outbox_id = await outbox.enqueue(
            conn, "events.updated", {"event_id": event_id, "event": event}
        )
    ctx.publisher.submit([outbox_id])  # committed: told once the stream takes it
    return event


async def delete(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """events.delete: remove an event that sold nothing (its types, gates, map go too).

    Refused with `conflict` (`reason: "not_empty"` and the counts) while it has
    tickets, orders or live holds: those are promises to people. A ticket
    issued while this runs makes the cascade fail on its foreign key, which is
    the same refusal.
    """
    event_id = parse_event_id(request.params)
    claims = request.claims
    try:
        async with ctx.pg.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT org_id FROM events WHERE id = $1 FOR UPDATE", event_id
            )
            if row is None or (
                claims.role != "service" and not claims.covers_event(event_id, row["org_id"])
            ):
                raise NotFound(f"no event {event_id}")
            held = await conn.fetchrow(
                """SELECT (SELECT count(*) FROM tickets WHERE event_id = $1) AS tickets,
                          (SELECT count(*) FROM orders WHERE event_id = $1) AS orders,
                          (SELECT count(*) FROM holds WHERE event_id = $1
                             AND state = 'active') AS active_holds""",
                event_id,
            )
            assert held is not None  # counts are always one row
            if any(held.values()):
                raise _not_empty(event_id, dict(held))
            await conn.execute("DELETE FROM scans WHERE event_id = $1", event_id)
            await conn.execute("DELETE FROM inside_counts WHERE event_id = $1", event_id)
            await conn.execute("DELETE FROM events WHERE id = $1", event_id)
            # The organization travels with it: the event row is gone for its consumers
            # (webhooks match deliveries by organization).
            outbox_id = await outbox.enqueue(
                conn, "events.deleted", {"event_id": event_id, "org_id": row["org_id"]}
            )
    except asyncpg.ForeignKeyViolationError:
        raise _not_empty(event_id, {"tickets": 1}) from None
    ctx.publisher.submit([outbox_id])  # committed: told once the stream takes it
    return {"event_id": event_id, "deleted": True}


def _not_empty(event_id: int, counts: dict[str, int]) -> Conflict:
    return Conflict(
        f"event {event_id} has tickets, orders or live holds", reason="not_empty", **counts
    )


async def owner(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """events.owner (internal): the organization of an event, for hubs' permission checks."""
    event_id = parse_event_id(request.params)
    org = await ctx.pg.fetchval("SELECT org_id FROM events WHERE id = $1", event_id)
    return {"event_id": event_id, "org": org}


HANDLERS: dict[str, CommandHandler] = {
    "events.create": create,
    "events.list": list_events,
    "events.get": get,
    "events.update": update,
    "events.delete": delete,
    INTERNAL_EVENT_OWNER: owner,
}
