"""The qa worker: questions, upvotes, moderation and reactions of sessions.

docs/engagement.md §Q&A, §Reactions. Commands arrive through the worker's
NATS queue group, so any number of these share the load; correctness lives
in PostgreSQL (one upvote per attendee by primary key) and Redis (rate limits
and reaction counts). Each worker also runs the Q&A feed tick (one at a time
publishes) and the reaction window flush, and answers `event.{id}.qa`
snapshot requests.

    qa.ask / qa.list / qa.moderate / qa.settings    here
    qa.upvote (batched)                             workers/qa_votes.py
    event.{id}.qa publications and snapshots        workers/qa_feed.py
    reactions.send, event.{id}.reactions            workers/reactions.py
"""

from __future__ import annotations

from typing import Any

from bilten.infra import outbox
from bilten.protocol.commands import CommandRequest
from bilten.protocol.domain_events import qa_asked, qa_moderated
from bilten.protocol.errors import BadRequest, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import MAX_ID, parse_int
from bilten.protocol.qa import (
    ACTIONS,
    ASK_LIMIT,
    FEED_TICK_S,
    Moderation,
    initial_state,
    moderate,
    question_text,
    sees_everything,
)
from bilten.workers import qa_feed, qa_limits, qa_votes, reactions
from bilten.workers.batching import Batched
from bilten.workers.context import WorkerContext
from bilten.workers.qa_store import (
    COLUMNS,
    check_session,
    gone_as_not_found,
    mark_changed,
    question_of,
    session_list,
)
from bilten.workers.shape import Periodic, Worker


async def ask(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """qa.ask: a new question, shown at once or waiting for approval as the event says.

    An anonymous question stores no asker at all: no read can reveal it later.
    """
    event_id = parse_event_id(request.params)
    session_id = parse_int(request.params, "session_id", 1, MAX_ID)
    text = question_text(request.params.get("text"))
    anonymous = request.params.get("anonymous") is True
    await check_session(ctx.pg, event_id, session_id)
    keys = ctx.deps.keys
    await qa_limits.spend(
        ctx.deps.redis, keys.qa_asks(event_id, request.claims.sub), ASK_LIMIT, "questions"
    )
    with gone_as_not_found(f"session {session_id}"):
        async with ctx.pg.acquire() as conn, conn.transaction():
            require = await conn.fetchval(
                "SELECT require_approval FROM qa_settings WHERE event_id = $1", event_id
            )
            state = initial_state(bool(require))
            row = await conn.fetchrow(
                f"""INSERT INTO questions (event_id, session_id, text, asker, state)
                    VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}""",
                event_id,
                session_id,
                text,
                None if anonymous else request.claims.sub,
                state,
            )
            assert row is not None  # INSERT … RETURNING
            if state == "visible":
                await mark_changed(conn, event_id, [session_id])
            ids = await outbox.enqueue_many(
                conn, [qa_asked(event_id, row["id"], session_id, row["created_at"])]
            )
    ctx.publisher.submit(ids)
    return question_of(row).to_wire()


async def list_questions(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """qa.list: the session's list; pending and hidden questions for organizers only."""
    event_id = parse_event_id(request.params)
    session_id = parse_int(request.params, "session_id", 1, MAX_ID)
    await check_session(ctx.pg, event_id, session_id)
    everything = sees_everything(request.claims.role)
    questions = await session_list(ctx.pg, session_id, everything=everything)
    return {"session_id": session_id, "questions": [q.to_wire() for q in questions]}


async def moderate_question(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """qa.moderate: approve, hide, mark answered, pin or unpin one question of the event.

    `qa.moderated` is told only when the action changed the question.
    """
    event_id = parse_event_id(request.params)
    question_id = parse_int(request.params, "question_id", 1, MAX_ID)
    action = request.params.get("action")
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}", field="action")
    with gone_as_not_found(f"question {question_id}"):
        async with ctx.pg.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {COLUMNS} FROM questions WHERE id = $1 AND event_id = $2 FOR UPDATE",
                question_id,
                event_id,
            )
            if row is None:
                raise NotFound(f"no question {question_id} in event {event_id}")
            before = Moderation(row["state"], row["answered"], row["pinned"])
            after = moderate(before, action)
            if after == before:
                return question_of(row).to_wire()
            row = await conn.fetchrow(
                f"""UPDATE questions SET state = $2, answered = $3, pinned = $4
                    WHERE id = $1 RETURNING {COLUMNS}, now() AS moderated_at""",
                question_id,
                after.state,
                after.answered,
                after.pinned,
            )
            assert row is not None  # locked above
            if "visible" in (before.state, after.state):  # what the room sees changed
                await mark_changed(conn, event_id, [row["session_id"]])
            ids = await outbox.enqueue_many(
                conn, [qa_moderated(event_id, question_id, action, row["moderated_at"])]
            )
    ctx.publisher.submit(ids)
    return question_of(row).to_wire()


async def settings(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """qa.settings: set whether questions wait for approval, or (left out) read it.

    Switching approval off shows nothing by itself: waiting questions still
    need an `approve`.
    """
    event_id = parse_event_id(request.params)
    require = request.params.get("require_approval")
    if require is None:
        value = await ctx.pg.fetchval(
            "SELECT require_approval FROM qa_settings WHERE event_id = $1", event_id
        )
    else:
        with gone_as_not_found(f"event {event_id}"):
            value = await ctx.pg.fetchval(
                """INSERT INTO qa_settings (event_id, require_approval) VALUES ($1, $2)
                   ON CONFLICT (event_id) DO UPDATE
                   SET require_approval = EXCLUDED.require_approval
                   RETURNING require_approval""",
                event_id,
                require is True,
            )
    return {"event_id": event_id, "require_approval": bool(value)}


WORKER = Worker(
    "qa",
    commands={
        "qa.ask": ask,
        "qa.list": list_questions,
        "qa.upvote": Batched(qa_votes.upvote),
        "qa.moderate": moderate_question,
        "qa.settings": settings,
        "reactions.send": reactions.send,
    },
    snapshots={"qa": qa_feed.snapshot},
    periodic=(
        Periodic("qa feed", FEED_TICK_S, qa_feed.tick),
        Periodic("reactions flush", reactions.FLUSH_S, reactions.flush),
    ),
)
"""Q&A and reactions; the Q&A feed and the reaction windows' flush run alongside."""
