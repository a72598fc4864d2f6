"""qa.upvote, decided in batches: one transaction for every upvote queued meanwhile.

docs/engagement.md §Q&A. An upvote is a row of `question_upvotes`, whose
primary key (question, attendee) makes a second one impossible whichever
worker or hub it comes through: `INSERT … ON CONFLICT DO NOTHING` that
inserts nothing is `already_upvoted`, a withdrawal that deletes nothing is
`not_upvoted`. The question's `votes` moves by what the batch inserted and
deleted, in the same transaction, so it always equals the rows.

The questions are read locked (FOR NO KEY UPDATE, in id order), so a
moderation that hides one meanwhile is either before the batch (the upvote is
`not_found`) or after it, never in between. Requests are applied in the order
of (question, attendee), stable for the same pair, and the counters are
updated in question order: lanes and workers take their locks in one order
and never deadlock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import AlreadyUpvoted, BiltenError, NotFound, NotUpvoted
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import MAX_ID, parse_int
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.qa_store import gone_as_not_found, mark_changed


@dataclass(frozen=True, slots=True)
class _Upvote:
    event_id: int
    question_id: int
    attendee: str
    withdraw: bool


def _parse(request: CommandRequest) -> _Upvote:
    return _Upvote(
        parse_event_id(request.params),
        parse_int(request.params, "question_id", 1, MAX_ID),
        request.claims.sub,
        request.params.get("withdraw") is True,
    )


async def upvote(requests: Sequence[CommandRequest], ctx: WorkerContext) -> list[Any]:
    """Decide a batch of qa.upvote requests: one outcome per request, in order."""
    outcomes: list[Any] = [None] * len(requests)
    parsed: dict[int, _Upvote] = {}
    for n, request in enumerate(requests):
        try:
            parsed[n] = _parse(request)
        except BiltenError as error:
            outcomes[n] = error
    # A question deleted meanwhile (its session or event was): each is then decided alone.
    with gone_as_not_found("the question"):
        async with ctx.pg.acquire() as conn, conn.transaction():
            questions = {
                row["id"]: row
                for row in await conn.fetch(
                    "SELECT id, event_id, session_id FROM questions"
                    " WHERE id = ANY($1::bigint[]) AND state = 'visible'"
                    " ORDER BY id FOR NO KEY UPDATE",
                    sorted({u.question_id for u in parsed.values()}),
                )
            }
            moved: Counter[int] = Counter()
            decided: list[int] = []
            for n in sorted(parsed, key=lambda n: (parsed[n].question_id, parsed[n].attendee)):
                vote = parsed[n]
                row = questions.get(vote.question_id)
                if row is None or row["event_id"] != vote.event_id:
                    outcomes[n] = NotFound(
                        f"no question {vote.question_id} to upvote in event {vote.event_id}"
                    )
                elif await _apply(conn, vote):
                    moved[vote.question_id] += -1 if vote.withdraw else 1
                    decided.append(n)
                else:
                    outcomes[n] = _nothing_to_do(vote)
            votes = await _count(conn, questions, moved)
    for n in decided:
        vote = parsed[n]
        outcomes[n] = {
            "question_id": vote.question_id,
            "votes": votes.get(vote.question_id, 0),
            "upvoted": not vote.withdraw,
        }
    return outcomes


async def _apply(conn: Conn, vote: _Upvote) -> bool:
    """Add or remove the attendee's upvote; False when there was nothing to do."""
    if vote.withdraw:
        sql = "DELETE FROM question_upvotes WHERE question_id = $1 AND attendee = $2 RETURNING 1"
    else:
        sql = """INSERT INTO question_upvotes (question_id, attendee) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING RETURNING 1"""
    return await conn.fetchval(sql, vote.question_id, vote.attendee) is not None


def _nothing_to_do(vote: _Upvote) -> BiltenError:
    if vote.withdraw:
        return NotUpvoted(
            f"question {vote.question_id}: no upvote of yours to withdraw",
            question_id=vote.question_id,
        )
    return AlreadyUpvoted(
        f"question {vote.question_id}: upvoted already", question_id=vote.question_id
    )


async def _count(
    conn: Conn, questions: Mapping[int, asyncpg.Record], moved: Counter[int]
) -> dict[int, int]:
    """Move each question's `votes` by what the batch did, in question order, and mark
    the sessions whose lists changed; returns the new counts."""
    votes: dict[int, int] = {}
    changed: dict[int, set[int]] = {}
    for question_id in sorted(moved):
        votes[question_id] = await conn.fetchval(
            "UPDATE questions SET votes = votes + $2 WHERE id = $1 RETURNING votes",
            question_id,
            moved[question_id],
        )
        if moved[question_id]:
            row = questions[question_id]
            changed.setdefault(row["event_id"], set()).add(row["session_id"])
    for event_id in sorted(changed):
        await mark_changed(conn, event_id, changed[event_id])
    return votes
