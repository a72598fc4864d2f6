"""The quiz leaderboard (docs/engagement.md §Quizzes): after each question closes.

Every closed quiz question of the session counts: the top ten go on the
event's polls channel, and each player's own rank to their `user.{sub}`
channel. Points are the ballots' `score` (protocol/polls.quiz_score).
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from bilten.protocol.channels import event_channel, user_channel
from bilten.protocol.errors import BadChannel
from bilten.protocol.poll_tally import leaderboard, rank
from bilten.workers.context import WorkerContext

log = logging.getLogger(__name__)

TOP = 10


def polls_channel(event_id: int) -> str:
    """`event.{event_id}.polls`."""
    return event_channel(event_id, "polls").name


def _user(sub: str) -> str | None:
    try:
        return user_channel(sub).name
    except BadChannel:  # a sub no channel can name: it gets no message of its own
        return None


async def publish(ctx: WorkerContext, event_id: int, session_id: int, poll_id: int) -> None:
    """Publish the session's leaderboard after quiz question `poll_id` closed."""
    rows = await ctx.pg.fetch(
        """SELECT b.voter, sum(b.score)::bigint AS score FROM poll_ballots b
           JOIN polls p ON p.id = b.poll_id
           WHERE p.session_id = $1 AND p.kind = 'quiz' AND p.status = 'closed'
           GROUP BY b.voter""",
        session_id,
    )
    scores = {r["voter"]: int(r["score"]) for r in rows}
    board = {
        "type": "leaderboard",
        "session_id": session_id,
        "poll_id": poll_id,
        "players": len(scores),
        "top": leaderboard(scores, TOP),
    }
    await ctx.channels.publish(polls_channel(event_id), orjson.dumps(board))
    places = rank(scores)
    own = [
        ctx.channels.publish(
            channel,
            orjson.dumps(
                {
                    "type": "quiz_rank",
                    "event_id": event_id,
                    "session_id": session_id,
                    "poll_id": poll_id,
                    "rank": place,
                    "score": scores[sub],
                    "players": len(scores),
                }
            ),
        )
        for sub, place in places.items()
        if (channel := _user(sub)) is not None
    ]
    for outcome in await asyncio.gather(*own, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome
