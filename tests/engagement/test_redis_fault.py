"""Redis failing when a poll command marks its change: the command answers an error, and
then nothing changed, so screens that show the last publication are not left behind."""

from __future__ import annotations

import time
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

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


@pytest.mark.parametrize("step", ["close", "reveal", "reset", "delete"])
async def test_a_change_whose_mark_failed_did_not_happen(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    await declare_streams(migrated)
    async with open_deps(migrated, "test") as deps:
        ctx = WorkerContext(deps, Metrics())
        event_id = await ctx.pg.fetchval(
            """INSERT INTO events (org_id, name, starts_at, ends_at, timezone, locale, currency)
               VALUES ('acme', 'Talk', now(), now() + interval '1 hour', 'UTC', 'en', 'BAM')
               RETURNING id"""
        )
        session = await _call(
            ctx, "sessions.create", engagement_sessions.create, event_id=event_id, title="K"
        )
        poll = await _call(
            ctx,
            "polls.create",
            polls.create,
            session_id=session["id"],
            question="Yes?",
            kind="rating",
            results="on_close",
        )
        before = await _call(ctx, "polls.open", polls.open_poll, poll_id=poll["id"])
        marking = poll_counts.mark_changed

        async def redis_down(*args: Any) -> None:
            raise RedisConnectionError("Redis went away")

        monkeypatch.setattr(poll_counts, "mark_changed", redis_down)
        handler = {
            "close": polls.close,
            "reveal": polls.reveal,
            "reset": polls.reset,
            "delete": polls.delete,
        }[step]
        with pytest.raises(RedisConnectionError):
            await _call(ctx, f"polls.{step}", handler, poll_id=poll["id"])
        monkeypatch.setattr(poll_counts, "mark_changed", marking)
        after = await _call(ctx, "polls.results", polls.results, poll_id=poll["id"])
        assert (after["status"], after["revealed"]) == (before["status"], before["revealed"])
        # Sent again once Redis is back, it happens and is published.
        await _call(ctx, f"polls.{step}", handler, poll_id=poll["id"])
        assert await poll_feed.tick(ctx) >= 1


async def test_a_session_deletion_whose_marks_failed_did_not_happen(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await declare_streams(migrated)
    async with open_deps(migrated, "test") as deps:
        ctx = WorkerContext(deps, Metrics())
        event_id = await ctx.pg.fetchval(
            """INSERT INTO events (org_id, name, starts_at, ends_at, timezone, locale, currency)
               VALUES ('acme', 'Talk', now(), now() + interval '1 hour', 'UTC', 'en', 'BAM')
               RETURNING id"""
        )
        session = await _call(
            ctx, "sessions.create", engagement_sessions.create, event_id=event_id, title="K"
        )
        poll = await _call(
            ctx, "polls.create", polls.create, session_id=session["id"], question="?", kind="rating"
        )

        async def redis_down(*args: Any) -> None:
            raise RedisConnectionError("Redis went away")

        monkeypatch.setattr(poll_counts, "mark_changed", redis_down)
        with pytest.raises(RedisConnectionError):
            await _call(
                ctx, "sessions.delete", engagement_sessions.delete, session_id=session["id"]
            )
        monkeypatch.undo()
        assert await ctx.pg.fetchval("SELECT count(*) FROM polls WHERE id = $1", poll["id"]) == 1
