"""polls.vote, batched: every vote that arrives while a batch commits goes in the next one.

docs/engagement.md §Votes. One transaction per batch reads the polls voted
in (FOR SHARE, so a close waits for the batch and no vote lands after it),
checks each vote (open, in time, a valid choice: protocol/polls.parse_choice),
and writes every ballot with one multi-row INSERT … ON CONFLICT DO NOTHING
RETURNING: the unique (poll_id, voter) key alone decides `already_voted`,
across batches, lanes and workers, and a resent vote finds its first one.
The accepted ballots' `polls.voted` events go to the outbox in one more
statement of the same transaction, and are published after the answer.
The answer waits for the commit: an acknowledged vote is durable. Counting
follows, in one Redis call per poll (workers/poll_counts.py), idempotent
by ballot id; a worker killed in between leaves counters that
`poll_counts.check` rebuilds from the ballots.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from bilten.infra import outbox
from bilten.protocol.commands import CommandRequest
from bilten.protocol.domain_events import Row, poll_voted
from bilten.protocol.errors import AlreadyVoted, BiltenError, NotFound, PollClosed
from bilten.protocol.params import MAX_ID, ascii_int, parse_int
from bilten.protocol.polls import PollSpec, parse_choice, quiz_score
from bilten.workers import poll_counts
from bilten.workers.context import WorkerContext
from bilten.workers.poll_store import COLUMNS, FROM, authorize, spec_of

log = logging.getLogger(__name__)

LANES = 2


@dataclass(frozen=True, slots=True)
class _Ballot:
    index: int  # of the request in the batch
    poll_id: int
    event_id: int
    session_id: int
    spec: PollSpec
    voter: str
    choice: Any
    score: int


def _check(request: CommandRequest, index: int, polls: dict[int, Any]) -> _Ballot:
    poll_id = parse_int(request.params, "poll_id", 1, MAX_ID)
    row = polls.get(poll_id)
    if row is None:
        raise NotFound(f"no poll {poll_id}")
    authorize(request.claims, row)
    spec = spec_of(row)
    elapsed = float(row["elapsed"] or 0.0)
    if row["status"] != "open" or (spec.time_limit_s is not None and elapsed > spec.time_limit_s):
        raise PollClosed(f"poll {poll_id} is not open for votes", poll_id=poll_id)
    choice = parse_choice(spec, request.params.get("choice"), row["words"] or ())
    score = quiz_score(choice, spec, elapsed) if spec.kind == "quiz" else 0
    return _Ballot(
        index, poll_id, row["event_id"], row["session_id"], spec, request.claims.sub, choice, score
    )


async def vote(requests: Sequence[CommandRequest], ctx: WorkerContext) -> list[Any]:
    """Decide a batch of votes in one transaction; one outcome per request, in order."""
    outcomes: list[Any] = [None] * len(requests)
    wanted = sorted(
        {
            poll_id
            for r in requests
            if (poll_id := ascii_int(r.params.get("poll_id"))) is not None and 0 < poll_id <= MAX_ID
        }
    )
    ballots: list[_Ballot] = []
    async with ctx.pg.acquire() as conn, conn.transaction():
        polls = {
            r["id"]: r
            for r in await conn.fetch(
                f"""SELECT {COLUMNS}, bl.words,
                           extract(epoch FROM clock_timestamp() - p.opened_at) AS elapsed
                    FROM {FROM} LEFT JOIN poll_blocklists bl ON bl.event_id = p.event_id
                    WHERE p.id = ANY($1::bigint[]) ORDER BY p.id FOR SHARE OF p""",
                wanted,
            )
        }
        for index, request in enumerate(requests):
            try:
                ballots.append(_check(request, index, polls))
            except BiltenError as error:
                outcomes[index] = error
        inserted = await conn.fetch(
            """INSERT INTO poll_ballots (poll_id, voter, choice, score)
               SELECT poll_id, voter, choice::jsonb, score
               FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[])
                    AS t (poll_id, voter, choice, score)
               ON CONFLICT ON CONSTRAINT poll_ballots_once DO NOTHING
               RETURNING id, poll_id, voter, created_at""",
            [b.poll_id for b in ballots],
            [b.voter for b in ballots],
            [orjson.dumps(b.choice).decode() for b in ballots],
            [b.score for b in ballots],
        )
        ids = {(r["poll_id"], r["voter"]): r for r in inserted}
        counted: defaultdict[int, list[tuple[int, Any]]] = defaultdict(list)
        voted: list[Row] = []
        for ballot in ballots:  # two of one voter in a batch: the first is the one inserted
            stored = ids.pop((ballot.poll_id, ballot.voter), None)
            if stored is None:
                outcomes[ballot.index] = AlreadyVoted(
                    f"you have voted in poll {ballot.poll_id}", poll_id=ballot.poll_id
                )
            else:
                outcomes[ballot.index] = {"poll_id": ballot.poll_id, "voted": True}
                counted[ballot.poll_id].append((stored["id"], ballot.choice))
                voted.append(
                    poll_voted(
                        ballot.event_id,
                        ballot.poll_id,
                        ballot.session_id,
                        stored["id"],
                        stored["created_at"],
                    )
                )
        published = await outbox.enqueue_many(conn, voted)  # the batch's events: one statement
    ctx.publisher.submit(published)
    first = {b.poll_id: b for b in ballots}
    for poll_id, added in counted.items():
        try:
            await poll_counts.add(ctx, first[poll_id].event_id, poll_id, first[poll_id].spec, added)
        except (RedisError, OSError, TimeoutError) as error:  # the votes stand: counts heal
            log.warning("counting %d votes of poll %d failed: %s", len(added), poll_id, error)
    return outcomes
