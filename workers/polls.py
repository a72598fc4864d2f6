"""Poll commands of the engagement worker: define, run and read polls (docs/engagement.md §Polls).

A poll is defined while a draft (its options fix what ballots mean), then
opened, closed, reopened, revealed, reset (its ballots deleted, a draft again)
or deleted. Each change is committed, then marked for the polls feed
(workers/poll_feed.py), which publishes the poll within a tick. Votes are in
workers/poll_votes.py; counts in workers/poll_counts.py.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import MAX_ID, parse_int
from bilten.protocol.poll_tally import poll_view
from bilten.protocol.polls import MAX_QUESTION, PollSpec, parse_blocklist, parse_spec
from bilten.workers import poll_counts, poll_leaderboard
from bilten.workers.context import WorkerContext
from bilten.workers.poll_store import authorize, is_organizer, load, of_event, spec_of, state_of
from bilten.workers.ticket_types import text_param


def _poll_id(request: CommandRequest) -> int:
    return parse_int(request.params, "poll_id", 1, MAX_ID)


def _visibility(params: dict[str, Any], default: str) -> str:
    value = params.get("results", default)
    if value not in ("live", "on_close"):
        raise BadRequest("results must be live or on_close", field="results")
    return str(value)


async def views(ctx: WorkerContext, rows: list[Any], *, organizer: bool) -> list[dict[str, Any]]:
    """The polls as `poll_view` shows them, with their live counters."""
    counters = await poll_counts.counters(ctx, {r["id"]: spec_of(r) for r in rows})
    return [poll_view(state_of(r, counters[r["id"]]), organizer=organizer) for r in rows]


async def _answer(ctx: WorkerContext, request: CommandRequest, poll_id: int) -> dict[str, Any]:
    row = await load(ctx.pg, request.claims, poll_id)
    return (await views(ctx, [row], organizer=is_organizer(request.claims)))[0]


async def create(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.create: a draft poll in a session."""
    params = request.params
    session_id = parse_int(params, "session_id", 1, MAX_ID)
    question = text_param(params, "question", MAX_QUESTION)
    spec = parse_spec(params)
    results = _visibility(params, "live")
    async with ctx.pg.acquire() as conn, conn.transaction():
        session = await conn.fetchrow(  # held until the poll is in: a deletion waits or wins
            """SELECT s.id, s.event_id, e.org_id FROM event_sessions s
               JOIN events e ON e.id = s.event_id WHERE s.id = $1 FOR KEY SHARE OF s""",
            session_id,
        )
        if session is None:
            raise NotFound(f"no session {session_id}")
        authorize(request.claims, session, "session")
        poll_id = await conn.fetchval(
            """INSERT INTO polls (event_id, session_id, question, kind, options, results,
                                  correct, time_limit_s)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
            session["event_id"],
            session_id,
            question,
            spec.kind,
            list(spec.options),
            results,
            spec.correct,
            spec.time_limit_s,
        )
    await poll_counts.mark_changed(ctx, session["event_id"], poll_id)
    return await _answer(ctx, request, poll_id)


async def update(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.update: edit a draft's question, kind, options, answer or visibility."""
    params = request.params
    poll_id = _poll_id(request)
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await load(conn, request.claims, poll_id, lock=True)
        if row["status"] != "draft":
            raise Conflict("only a draft poll can be edited; reset it first", reason="not_draft")
        base = spec_of(row)
        if "kind" in params and params["kind"] != base.kind:  # a new kind starts afresh
            base = PollSpec(params["kind"])
        spec = parse_spec(params, base)
        question = (
            text_param(params, "question", MAX_QUESTION)
            if "question" in params
            else row["question"]
        )
        await conn.execute(
            """UPDATE polls SET question = $2, kind = $3, options = $4, correct = $5,
                                time_limit_s = $6, results = $7 WHERE id = $1""",
            poll_id,
            question,
            spec.kind,
            list(spec.options),
            spec.correct,
            spec.time_limit_s,
            _visibility(params, row["results"]),
        )
        await poll_counts.mark_changed(ctx, row["event_id"], poll_id)  # see _transition
    await poll_counts.mark_changed(ctx, row["event_id"], poll_id)
    return await _answer(ctx, request, poll_id)


async def _transition(
    request: CommandRequest, ctx: WorkerContext, sql: str, allowed: tuple[str, ...], what: str
) -> asyncpg.Record:
    poll_id = _poll_id(request)
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await load(conn, request.claims, poll_id, lock=True)
        if row["status"] not in allowed:
            raise Conflict(f"a {row['status']} poll cannot be {what}", reason=row["status"])
        await conn.execute(sql, poll_id)
        # Marked before the commit too: if Redis fails, the change is undone with the
        # error, never committed unpublished; marked after it, the committed state goes out.
        await poll_counts.mark_changed(ctx, row["event_id"], poll_id)
    await poll_counts.mark_changed(ctx, row["event_id"], poll_id)
    return row


async def open_poll(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.open: start (or resume) taking votes; a quiz's clock starts now."""
    await _transition(
        request,
        ctx,
        "UPDATE polls SET status = 'open', opened_at = now(), closed_at = NULL WHERE id = $1",
        ("draft", "closed"),
        "opened",
    )
    return await _answer(ctx, request, _poll_id(request))


async def close(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.close: stop taking votes; after a quiz question, the leaderboard."""
    row = await _transition(
        request,
        ctx,
        "UPDATE polls SET status = 'closed', closed_at = now() WHERE id = $1",
        ("open",),
        "closed",
    )
    if row["kind"] == "quiz":
        await poll_leaderboard.publish(ctx, row["event_id"], row["session_id"], row["id"])
    return await _answer(ctx, request, row["id"])


async def reveal(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.reveal: show an `on_close` poll's results to everyone."""
    await _transition(
        request,
        ctx,
        "UPDATE polls SET revealed = true WHERE id = $1",
        ("draft", "open", "closed"),
        "revealed",
    )
    return await _answer(ctx, request, _poll_id(request))


async def reset(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.reset: delete every ballot; the poll is a hidden draft again."""
    poll_id = _poll_id(request)
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await load(conn, request.claims, poll_id, lock=True)
        floor = await conn.fetchval(
            """WITH gone AS (DELETE FROM poll_ballots WHERE poll_id = $1 RETURNING id)
               SELECT max(id) FROM gone""",
            poll_id,
        )
        await conn.execute(
            """UPDATE polls SET status = 'draft', revealed = false, opened_at = NULL,
                                closed_at = NULL WHERE id = $1""",
            poll_id,
        )
        await poll_counts.mark_changed(ctx, row["event_id"], poll_id)  # see _transition
    await poll_counts.forget(ctx, poll_id, floor=floor or 0)  # a late count adds none back
    await poll_counts.mark_changed(ctx, row["event_id"], poll_id)
    return await _answer(ctx, request, poll_id)


async def delete(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.delete: the poll and its ballots; subscribers are told it is gone."""
    poll_id = _poll_id(request)
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await load(conn, request.claims, poll_id, lock=True)
        await conn.execute("DELETE FROM polls WHERE id = $1", poll_id)
        await poll_counts.mark_changed(ctx, row["event_id"], poll_id)  # see _transition
    await poll_counts.drop(ctx, poll_id)
    await poll_counts.mark_changed(ctx, row["event_id"], poll_id)
    return {"poll_id": poll_id, "deleted": True}


async def get(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.get: one poll as the caller may see it."""
    return await _answer(ctx, request, _poll_id(request))


async def results(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.results: the counts, hidden or not (organizers)."""
    row = await load(ctx.pg, request.claims, _poll_id(request))
    return (await views(ctx, [row], organizer=True))[0]


async def list_polls(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.list: the event's polls (of one session) as the caller may see them."""
    params = request.params
    session_id = (
        parse_int(params, "session_id", 1, MAX_ID) if params.get("session_id") is not None else None
    )
    rows = await of_event(ctx, parse_event_id(params), session_id)
    return {"polls": await views(ctx, rows, organizer=is_organizer(request.claims))}


async def blocklist(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.blocklist: the event's blocked words."""
    event_id = parse_event_id(request.params)
    words = await ctx.pg.fetchval("SELECT words FROM poll_blocklists WHERE event_id = $1", event_id)
    return {"event_id": event_id, "words": list(words or [])}


async def set_blocklist(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """polls.blocklist.set: replace the event's blocked words (later answers only)."""
    event_id = parse_event_id(request.params)
    words = parse_blocklist(request.params.get("words"))
    stored = await ctx.pg.fetchval(
        """INSERT INTO poll_blocklists (event_id, words) SELECT id, $2 FROM events WHERE id = $1
           ON CONFLICT (event_id) DO UPDATE SET words = excluded.words, updated_at = now()
           RETURNING event_id""",
        event_id,
        list(words),
    )
    if stored is None:
        raise NotFound(f"no event {event_id}")
    return {"event_id": event_id, "words": list(words)}
