"""The event log through outages: NATS killed, PostgreSQL stopped, each while the worker writes.

`bilten worker persistence` runs as a subprocess on this package's own
servers. Events are on the stream before the outage and more are published
after it; once the server is back, the log holds every one exactly once and
the worker process is still running.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import pytest

from bilten.deploy.embedded import EmbeddedStack
from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from tests.faults.test_outages import Outage, kill_and_restart, stop_and_start
from tests.waiting import wait_for
from tests.workers.test_persistence import _spawn, publish_events

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

BEFORE, AFTER = 20_000, 1_000
OUTAGES: dict[str, Outage] = {
    "nats-sigkill": kill_and_restart("nats", signal.SIGKILL),
    "postgres-stop": stop_and_start("postgres"),
}


async def _logged(settings: Settings) -> tuple[int, int] | None:
    """(rows, distinct events) in the log, or None while PostgreSQL is away."""
    assert settings.database_url
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT payload->'scan'->>'n') AS d FROM event_log"
        )
    finally:
        await conn.close()
    assert row is not None
    return row["n"], row["d"]


@pytest.mark.parametrize("outage", list(OUTAGES))
async def test_an_outage_loses_and_doubles_nothing(
    outage: str, stack: EmbeddedStack, migrated: Settings, tmp_path: Path
) -> None:
    fault, restore = OUTAGES[outage]
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        await publish_events(deps, BEFORE)
    worker = _spawn(migrated, tmp_path / "worker.log")
    restored = True
    try:

        async def started() -> bool:
            counts = await _logged(migrated)
            return counts is not None and counts[0] > 0

        await wait_for(started, what="the worker to log its first events")
        restored = False
        await fault(stack)
        await restore(stack)
        restored = True
        async with open_deps(migrated, "test") as deps:  # a fresh connection to each server
            await publish_events(deps, AFTER, start=BEFORE)

        async def all_logged() -> bool:
            assert await _logged(migrated) == (BEFORE + AFTER, BEFORE + AFTER)
            return True

        await wait_for(all_logged, what="every event logged exactly once", timeout=180)
        assert worker.poll() is None, "the worker process exited"
    finally:
        if not restored:
            await restore(stack)
        worker.kill()
        await asyncio.to_thread(worker.wait, 30)
