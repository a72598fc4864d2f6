"""The polls feed publishes a poll at most once per tick however many workers run it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bilten.infra.bootstrap import declare_streams
from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest
from bilten.protocol.tokens import mint_claims
from bilten.workers import engagement_sessions, poll_counts, poll_feed, polls
from bilten.workers.context import WorkerContext

ORGANIZER = mint_claims(
    sub="org-1", org="acme", role="organizer", events="*", ttl_s=3600, now=time.time()
)


async def _call(ctx: WorkerContext, method: str, handler: Any, **params: Any) -> Any:
    return await handler(CommandRequest(method, ORGANIZER, params), ctx)


async def _published(ctx: WorkerContext, event_id: int) -> int:
    position = await ctx.channels.position(f"event.{event_id}.polls")
    return position.offset if position else 0


async def test_a_second_worker_does_not_publish_within_the_tick(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two engagement workers tick on their own clocks; the advisory lock alone let each
    publish a changed poll right after the other (up to twenty a second). A poll changed
    again just after one worker published waits for the tick (made long here, so that the
    test does not depend on speed), whichever worker ticks next."""
    monkeypatch.setattr(poll_feed, "TICK_S", 60.0)
    await declare_streams(migrated)
    async with open_deps(migrated, "test") as deps_a, open_deps(migrated, "test") as deps_b:
        first, second = WorkerContext(deps_a, Metrics()), WorkerContext(deps_b, Metrics())
        event_id = await first.pg.fetchval(
            """INSERT INTO events (org_id, name, starts_at, ends_at, timezone, locale, currency)
               VALUES ('acme', 'Talk', now(), now() + interval '1 hour', 'UTC', 'en', 'BAM')
               RETURNING id"""
        )
        session = await _call(
            first, "sessions.create", engagement_sessions.create, event_id=event_id, title="K"
        )
        poll = await _call(
            first,
            "polls.create",
            polls.create,
            session_id=session["id"],
            question="Yes?",
            kind="rating",
        )
        assert await poll_feed.tick(first) == 1
        before = await _published(first, event_id)
        assert before >= 1
        await _call(first, "polls.open", polls.open_poll, poll_id=poll["id"])  # changed again
        assert await poll_feed.tick(second) == 0
        assert await poll_feed.tick(first) == 0
        assert await _published(second, event_id) == before
        member = poll_counts.changed_member(event_id, poll["id"])
        assert await deps_a.redis.sismember(deps_a.keys.polls_changed(), member)  # not lost
