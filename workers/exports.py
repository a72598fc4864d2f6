"""The exports worker: pages of an event's check-ins, orders, tickets and poll results.

Stateless between pages (docs/insight.md §Exports): each `exports.page` reads
one page by keyset (workers/export_queries.py) and renders every value as
text the way the export shows it, times in the event's time zone and amounts
as decimals of the currency's minor unit, so the hub only encodes and streams.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

import asyncpg

from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.exports import COLUMNS, PAGE_ROWS, Cell, render_time
from bilten.protocol.params import parse_int
from bilten.protocol.sales import decimal_amount
from bilten.workers.context import WorkerContext
from bilten.workers.export_queries import fetch_page
from bilten.workers.shape import Worker

Render = Callable[[asyncpg.Record, zoneinfo.ZoneInfo], list[Cell]]


def _text(value: object) -> Cell:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _checkin(row: asyncpg.Record, zone: zoneinfo.ZoneInfo) -> list[Cell]:
    return [
        *map(_text, (row["id"], row["ticket_id"], row["holder"], row["gate"])),
        *map(_text, (row["direction"], row["status"], row["reason"])),
        render_time(row["scanned_at"], zone),
        render_time(row["decided_at"], zone),
        _text(row["offline"]),
        _text(row["device"]),
    ]


def _order(row: asyncpg.Record, zone: zoneinfo.ZoneInfo) -> list[Cell]:
    currency = row["currency"]
    return [
        *map(_text, (row["id"], row["owner_sub"], row["email"], row["tickets"])),
        " ".join(str(ticket_id) for ticket_id in row["ticket_ids"]),
        decimal_amount(row["amount_minor"], currency),
        currency,
        render_time(row["created_at"], zone),
    ]


def _ticket(row: asyncpg.Record, zone: zoneinfo.ZoneInfo) -> list[Cell]:
    currency = row["currency"]
    return [
        *map(_text, (row["id"], row["ticket_type_id"], row["ticket_type"], row["holder"])),
        *map(_text, (row["owner_sub"], row["state"])),
        decimal_amount(row["price_minor"], currency),
        currency,
        render_time(row["created_at"], zone),
        render_time(row["revoked_at"], zone),
    ]


def _poll(row: asyncpg.Record, zone: zoneinfo.ZoneInfo) -> list[Cell]:
    return [_text(row[column]) for column in COLUMNS["polls"]]


_RENDER: dict[str, Render] = {
    "checkins": _checkin,
    "orders": _order,
    "tickets": _ticket,
    "polls": _poll,
}


async def page(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """exports.page: up to `limit` rows of export `name` after the cursor `after`."""
    params = request.params
    event_id = parse_event_id(params)
    name = params.get("name")
    if name not in _RENDER:
        raise NotFound(f"no export {str(name)[:64]!r}")
    after = params.get("after")
    if after is not None and not isinstance(after, str):
        raise BadRequest("after must be a cursor (text)", field="after")
    limit = parse_int(params, "limit", 1, PAGE_ROWS, default=PAGE_ROWS)
    event = await ctx.pg.fetchrow("SELECT timezone FROM events WHERE id = $1", event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    zone = zoneinfo.ZoneInfo(event["timezone"])  # checked when the event was written
    found = await fetch_page(ctx.pg, name, event_id, after, limit)
    render = _RENDER[name]
    return {
        "event_id": event_id,
        "name": name,
        "columns": list(COLUMNS[name]),
        "rows": [render(row, zone) for row in found.rows],
        "next": found.next,
    }


WORKER = Worker("exports", commands={"exports.page": page})
