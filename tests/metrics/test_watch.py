"""Which events a metrics worker keeps counting, how often it may count each, and that a
failed count is due again."""

from __future__ import annotations

import time

import asyncpg
import pytest

from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.workers.context import WorkerContext
from bilten.workers.dashboard_watch import RENOTE_S, WATCH_S, DashboardWatch
from bilten.workers.metrics import tick


def test_news_is_recorded_once_per_renote_window_and_forgotten_after_an_hour() -> None:
    watch = DashboardWatch()
    assert watch.note(1, 100.0) is True
    assert watch.note(1, 100.0 + RENOTE_S / 2) is False  # a storm writes Redis rarely
    assert watch.note(1, 100.0 + RENOTE_S) is True
    assert watch.note(2, 100.0) is True
    assert watch.events(100.0 + WATCH_S + 1) == {1}  # 2 had no news for an hour
    assert watch.events(100.0 + RENOTE_S + WATCH_S + 1) == set()


def test_an_event_is_counted_at_most_once_a_second() -> None:
    watch = DashboardWatch()
    watch.note(1, 0.0)
    assert watch.may_count(1, 0.0)
    watch.counted(1, 0.0)
    assert not watch.may_count(1, 0.999)
    assert watch.may_count(1, 1.0)
    watch.forget(1)
    assert watch.events(1.0) == set()


async def test_a_count_that_fails_is_tried_again_on_the_next_tick(migrated: Settings) -> None:
    """PostgreSQL gone: every tick says so, none returns as if the dashboards were fine
    (the loop would log `recovered` while the outage lasts, docs/operations.md)."""
    async with open_deps(migrated, "test-metrics") as deps:
        ctx = WorkerContext(deps, Metrics())
        ctx.dashboards.note(7, time.time())
        await deps.pg.close()
        for _ in range(3):
            with pytest.raises(asyncpg.InterfaceError):
                await tick(ctx)
