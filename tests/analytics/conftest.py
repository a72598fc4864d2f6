"""An analytics stack for one test: every worker, the analytics worker's context in hand.

The analytics worker runs here with a `WorkerContext` the test keeps, so a
test can reach its store (to lose data on purpose, or look at it) the way
nothing else can: embedded ClickHouse lives in the worker's process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bilten.hub.app import create_app
from bilten.infra.deps import Deps, open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.workers import analytics
from bilten.workers.context import WorkerContext
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from bilten.workers.shape import run_worker
from tests.ready import workers_answer
from tests.waiting import arrives


@dataclass
class Stack:
    """A hub client, the test's connections, and the analytics worker's context."""

    settings: Settings
    client: Any
    deps: Deps
    ctx: WorkerContext


@pytest.fixture
async def stack(migrated: Settings, aiohttp_client: Any) -> AsyncIterator[Stack]:
    """Every worker running in this process, the analytics worker with a context kept here."""
    others = sorted(set(WORKERS) - {"analytics"})
    stop = asyncio.Event()
    async with open_deps(migrated, "bilten-test-analytics") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        ctx = WorkerContext(deps, Metrics())
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(run_workers(migrated, others, stop)),
            loop.create_task(run_worker(analytics.WORKER, ctx, stop)),
        ]
        try:
            await workers_answer(migrated, sorted(WORKERS))
            client = await aiohttp_client(create_app(migrated))
            yield Stack(migrated, client, deps, ctx)
        finally:
            stop.set()
            for task in tasks:
                await arrives(task, what="the workers to stop")
