"""Sessions of an event (docs/engagement.md §Sessions): the talks polls belong to.

Organizers create, edit, list and delete them; deleting one deletes its polls
and their ballots (the foreign keys cascade).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import MAX_ID, parse_int, parse_time
from bilten.workers import poll_counts
from bilten.workers.context import WorkerContext
from bilten.workers.poll_store import authorize
from bilten.workers.ticket_types import text_param

MAX_TITLE = 200
MAX_ROOM = 100
_COLUMNS = "s.id, s.event_id, s.title, s.room, s.starts_at, s.ends_at, s.created_at"


def session_json(row: asyncpg.Record) -> dict[str, Any]:
    """A session as the API shows it."""
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "title": row["title"],
        "room": row["room"],
        "starts_at": _iso(row["starts_at"]),
        "ends_at": _iso(row["ends_at"]),
        "created_at": row["created_at"].isoformat(),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _fields(params: dict[str, Any]) -> dict[str, Any]:
    """The session fields present in `params`, checked (null clears room and times)."""
    out: dict[str, Any] = {}
    if "title" in params:
        out["title"] = text_param(params, "title", MAX_TITLE)
    if "room" in params:
        out["room"] = None if params["room"] is None else text_param(params, "room", MAX_ROOM)
    for name in ("starts_at", "ends_at"):
        if name in params:
            out[name] = None if params[name] is None else parse_time(params[name], name)
    return out


def _check_times(starts: datetime | None, ends: datetime | None) -> None:
    if starts is not None and ends is not None and ends <= starts:
        raise BadRequest("ends_at must be after starts_at", field="ends_at")


async def create(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """sessions.create: a session of the event."""
    event_id = parse_event_id(request.params)
    fields = _fields(request.params)
    if "title" not in fields:
        raise BadRequest("title is required", field="title")
    _check_times(fields.get("starts_at"), fields.get("ends_at"))
    row = await ctx.pg.fetchrow(
        """INSERT INTO event_sessions AS s (event_id, title, room, starts_at, ends_at)
           SELECT id, $2, $3, $4, $5 FROM events WHERE id = $1
           RETURNING s.id, s.event_id, s.title, s.room, s.starts_at, s.ends_at, s.created_at""",
        event_id,
        fields["title"],
        fields.get("room"),
        fields.get("starts_at"),
        fields.get("ends_at"),
    )
    if row is None:
        raise NotFound(f"no event {event_id}")
    return session_json(row)


async def list_sessions(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """sessions.list: the event's sessions by id."""
    rows = await ctx.pg.fetch(
        f"SELECT {_COLUMNS} FROM event_sessions s WHERE s.event_id = $1 ORDER BY s.id",
        parse_event_id(request.params),
    )
    return {"sessions": [session_json(r) for r in rows]}


async def update(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """sessions.update: change some of title, room, starts_at, ends_at."""
    session_id = parse_int(request.params, "session_id", 1, MAX_ID)
    fields = _fields(request.params)
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await _load(conn, request, session_id, lock=True)
        merged = {**dict(row), **fields}
        _check_times(merged["starts_at"], merged["ends_at"])
        updated = await conn.fetchrow(
            """UPDATE event_sessions AS s SET title = $2, room = $3, starts_at = $4, ends_at = $5
               WHERE id = $1
               RETURNING s.id, s.event_id, s.title, s.room, s.starts_at, s.ends_at, s.created_at""",
            session_id,
            merged["title"],
            merged["room"],
            merged["starts_at"],
            merged["ends_at"],
        )
    assert updated is not None  # locked above
    return session_json(updated)


async def delete(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """sessions.delete: the session, its polls and their ballots."""
    session_id = parse_int(request.params, "session_id", 1, MAX_ID)
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await _load(conn, request, session_id, lock=True)
        polls = await conn.fetch("DELETE FROM polls WHERE session_id = $1 RETURNING id", session_id)
        await conn.execute("DELETE FROM event_sessions WHERE id = $1", session_id)
        for poll in polls:  # before the commit too: if Redis fails, nothing is deleted
            await poll_counts.mark_changed(ctx, row["event_id"], poll["id"])
    for poll in polls:  # subscribers are told each is gone
        await poll_counts.drop(ctx, poll["id"])
        await poll_counts.mark_changed(ctx, row["event_id"], poll["id"])
    return {"session_id": session_id, "deleted": True}


async def _load(
    conn: Any, request: CommandRequest, session_id: int, *, lock: bool = False
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""SELECT {_COLUMNS}, e.org_id FROM event_sessions s JOIN events e ON e.id = s.event_id
            WHERE s.id = $1{" FOR UPDATE OF s" if lock else ""}""",
        session_id,
    )
    if row is None:
        raise NotFound(f"no session {session_id}")
    authorize(request.claims, row, "session")
    return row
