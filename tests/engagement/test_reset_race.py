"""A vote counted late, after its poll was reset, must not bring its deleted ballot back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest
from bilten.protocol.tokens import mint_claims
from bilten.workers import engagement_sessions, poll_counts, poll_votes, polls
from bilten.workers.context import WorkerContext
from tests.waiting import arrives, wait_for

ORGANIZER = mint_claims(
    sub="org-1", org="acme", role="organizer", events="*", ttl_s=3600, now=time.time()
)
FAN = mint_claims(sub="fan", org="acme", role="attendee", events="*", ttl_s=3600, now=time.time())


async def _call(ctx: WorkerContext, method: str, handler: Any, **params: Any) -> Any:
    return await handler(CommandRequest(method, ORGANIZER, params), ctx)


async def test_a_vote_counted_after_a_reset_is_not_counted(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vote's batch commits, its Redis call is held back, the organizer resets the
    poll (ballots deleted, counters dropped, rebuilt by the reset's own answer), then the
    held call runs: the reset poll still has no voters, and none after it is reopened."""
    async with open_deps(migrated, "test") as deps:
        ctx = WorkerContext(deps, Metrics())
        event_id = await ctx.pg.fetchval(
            """INSERT INTO events (org_id, name, starts_at, ends_at, timezone, locale, currency)
               VALUES ('acme', 'Talk', now(), now() + interval '1 hour', 'UTC', 'en', 'BAM')
               RETURNING id"""
        )
        session = await _call(
            ctx, "sessions.create", engagement_sessions.create, event_id=event_id, title="Keynote"
        )
        poll = await _call(
            ctx,
            "polls.create",
            polls.create,
            session_id=session["id"],
            question="Yes?",
            kind="single",
            options=["Yes", "No"],
        )
        await _call(ctx, "polls.open", polls.open_poll, poll_id=poll["id"])
        release = asyncio.Event()
        counting = poll_counts.add

        async def late_add(*args: Any) -> None:
            await release.wait()
            await counting(*args)

        monkeypatch.setattr(poll_counts, "add", late_add)
        ballot = CommandRequest("polls.vote", FAN, {"poll_id": poll["id"], "choice": 0})
        voting = asyncio.get_running_loop().create_task(poll_votes.vote([ballot], ctx))
        await wait_for(
            lambda: ctx.pg.fetchval("SELECT count(*) FROM poll_ballots"), what="the ballot"
        )
        reset = await _call(ctx, "polls.reset", polls.reset, poll_id=poll["id"])
        assert reset["tally"]["voters"] == 0
        release.set()
        assert await arrives(voting, what="the vote's answer") == [
            {"poll_id": poll["id"], "voted": True}
        ]
        after = await _call(ctx, "polls.results", polls.results, poll_id=poll["id"])
        assert (after["status"], after["tally"]) == ("draft", {"voters": 0, "counts": [0, 0]})
        await _call(ctx, "polls.open", polls.open_poll, poll_id=poll["id"])
        again = await _call(ctx, "polls.results", polls.results, poll_id=poll["id"])
        assert again["tally"] == {"voters": 0, "counts": [0, 0]}
