"""Issue 13's end-to-end check: after a mixed storm of scans, holds and votes, with the
metrics worker SIGKILLed and Redis emptied in the middle, every dashboard figure equals
PostgreSQL, the event log holds every event exactly once, and the exports match the
database.

The check-in, allocation, engagement, metrics, persistence and exports workers run as
processes of their own (`bilten worker NAME`), the rest in this process, and a real hub
serves the WebSocket and the exports. The ground truth is counted by this test's own
queries (tests/metrics/helpers.py `ground_truth`, tests/exports/helpers.py `expected`).
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from typing import Any

import pytest

from bilten.hub.app import create_app
from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings
from bilten.protocol.exports import COLUMNS
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.allocation.helpers import Crowd, db
from tests.exports.helpers import as_csv, download, expected
from tests.metrics.helpers import flush, tells_the_truth
from tests.ready import free_port, spawn_worker, stop_process, workers_answer
from tests.storm import Stage, set_stage, storm_part
from tests.waiting import WAIT_S, allowance, arrives, wait_for

pytestmark = pytest.mark.faults

TICKETS = 60
BUYERS = 8
VOTERS = 40
STORM = allowance(TICKETS * 3 + BUYERS * 6 + VOTERS)
PROCESSES = ("allocation", "checkin", "engagement", "exports", "metrics", "persistence")
EXPORTS = ("tickets", "checkins", "orders")


async def _scans(settings: Settings, event_id: int) -> int:
    [row] = await db(settings, "SELECT count(*) AS n FROM scans WHERE event_id = $1", event_id)
    return int(row["n"])


async def _logged_once(settings: Settings, event_id: int) -> bool:
    """Every event on the events stream in the log once, and every scan's event among them."""
    async with open_deps(settings, "test-storm-truth") as deps:
        stored = (await deps.js.stream_info(deps.subjects.events_stream)).state.messages
    [log] = await db(settings, "SELECT count(*) AS n, count(DISTINCT msg_id) AS ids FROM event_log")
    assert log["n"] == log["ids"] == stored, (dict(log), stored)
    scans = await db(settings, "SELECT nonce FROM scans WHERE event_id = $1", event_id)
    decided = await db(
        settings,
        "SELECT payload->'scan'->>'nonce' AS nonce FROM event_log"
        " WHERE kind = 'checkin.decided' AND event_id = $1",
        event_id,
    )
    each = Counter(r["nonce"] for r in decided)
    assert each == Counter(r["nonce"] for r in scans), (len(decided), len(scans))
    created = await db(
        settings,
        "SELECT count(*) AS n FROM event_log WHERE kind = 'events.created' AND event_id = $1",
        event_id,
    )
    assert created[0]["n"] == 1, created
    return True


@pytest.mark.timeout(STORM + 8 * WAIT_S)
async def test_after_a_storm_with_metrics_killed_and_redis_emptied_all_figures_are_true(
    migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    stop = asyncio.Event()
    names = sorted(set(WORKERS) - set(PROCESSES))
    others = asyncio.get_running_loop().create_task(run_workers(migrated, names, stop))
    procs = {name: spawn_worker(migrated, name, free_port()) for name in PROCESSES}
    crowd = Crowd(patience=STORM)
    stage: Stage | None = None
    try:
        await workers_answer(migrated, sorted({*names, *PROCESSES}), running=others)
        server = await aiohttp_server(create_app(migrated))
        stage = await set_stage(crowd, server, make_token, tickets=TICKETS, buyers=BUYERS)
        event_id, view = stage.event_id, stage.view
        rng = random.Random(13)
        await arrives(
            storm_part(stage, crowd, server, make_token, 0, rng, voters=VOTERS),
            what="the first half of the storm",
            timeout=STORM,
        )
        await wait_for(lambda: view.arrivals, what="the metrics worker publishing a dashboard")

        # Once the second half is under way, the metrics worker dies and Redis forgets.
        first_half = await _scans(migrated, event_id)
        second = asyncio.get_running_loop().create_task(
            storm_part(stage, crowd, server, make_token, 1, rng, voters=VOTERS)
        )

        async def under_way() -> bool:
            return await _scans(migrated, event_id) > first_half

        await wait_for(under_way, what="the second half's first scans")
        procs["metrics"].send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(procs["metrics"].wait, WAIT_S) == -signal.SIGKILL
        assert await flush(migrated) > 0
        procs["metrics"] = spawn_worker(migrated, "metrics", free_port())
        await arrives(second, what="the second half of the storm", timeout=STORM)
        assert not second.cancelled() and second.exception() is None

        async def dashboard_true() -> bool:
            assert procs["metrics"].poll() is None, "the metrics worker stopped"
            return await tells_the_truth(migrated, view, event_id)

        await wait_for(dashboard_true, what="the dashboard to equal PostgreSQL", timeout=STORM)
        assert view.latest["inside"] > 0 and view.latest["sales"]["orders"] > 0
        assert view.latest["polls"]["voters"][str(stage.poll_id)] == VOTERS

        await wait_for(
            lambda: _logged_once(migrated, event_id),
            what="every event logged exactly once",
            timeout=STORM,
        )

        client = await aiohttp_client(server)
        token = make_token("organizer")
        for name in EXPORTS:
            rows = await expected(migrated, event_id, name)
            assert rows, name
            status, body = await download(client, token, event_id, f"{name}.csv")
            assert status == 200, body
            assert body == [list(COLUMNS[name]), *as_csv(rows)], name
            status, body = await download(client, token, event_id, f"{name}.json")
            assert status == 200, body
            assert body == [dict(zip(COLUMNS[name], row, strict=True)) for row in rows], name
        assert all(proc.poll() is None for proc in procs.values()), "a worker process died"
    finally:
        if stage is not None:
            await stage.view.close()
        await crowd.close()
        for proc in procs.values():
            stop_process(proc)
        stop.set()
        await arrives(others, what="the in-process workers to stop")
