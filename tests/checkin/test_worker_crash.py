"""A check-in worker killed with SIGKILL mid-storm: no scan lost, none applied twice."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import asyncpg
import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from tests.checkin.helpers import door_setup, scan
from tests.hub.helpers import connect
from tests.ready import free_port, processes_answer, spawn_worker, workers_answer
from tests.waiting import WAIT_S, allowance, arrives

pytestmark = pytest.mark.faults

STORM = allowance(120)


@pytest.mark.timeout(STORM + 3 * WAIT_S)
async def test_sigkill_of_a_checkin_worker_loses_no_scan(
    migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    stop = asyncio.Event()
    others = asyncio.get_running_loop().create_task(
        run_workers(migrated, ["events", "tickets"], stop)
    )
    ports = [free_port() for _ in range(2)]
    victims = [spawn_worker(migrated, "checkin", port) for port in ports]
    try:
        await workers_answer(migrated, ["events", "tickets"], running=others)
        await processes_answer(migrated, "checkin", ports)  # the victim was serving
        hub = await aiohttp_client(await aiohttp_server(create_app(migrated)))
        organizer = await connect(hub, make_token("organizer"))
        door = await door_setup(organizer, count=60)
        scanners = [
            await connect(hub, make_token("staff", events=[door.event_id], sub=f"gate-{n}"))
            for n in range(6)
        ]

        verdicts: list[dict[str, Any]] = []
        quarter_done = asyncio.Event()

        async def storm(raw: Any, n: int) -> None:
            for i, ticket in enumerate(door.tickets[n::6] * 2):  # each ticket scanned twice
                verdicts.append(
                    await scan(raw, door.event_id, ticket["code"], nonce=f"gate-{n}:{i:06d}")
                )
                if len(verdicts) >= 30:
                    quarter_done.set()

        async def killer() -> int:
            await quarter_done.wait()
            victims[0].send_signal(signal.SIGKILL)
            return len(verdicts)

        _, killed_at = await arrives(
            asyncio.gather(
                asyncio.gather(*(storm(raw, n) for n, raw in enumerate(scanners))), killer()
            ),
            what="120 scans",
            timeout=STORM,
        )
        assert 30 <= killed_at < 120  # mid-storm
        assert len(verdicts) == 120
        assert victims[0].wait(WAIT_S) == -signal.SIGKILL
        ok = [v["ticket"]["id"] for v in verdicts if v["status"] == "ok"]
        assert sorted(ok) == sorted(t["id"] for t in door.tickets)  # each exactly once
        assert {v["reason"] for v in verdicts if v["status"] != "ok"} == {"already_inside"}
        assert migrated.database_url
        conn = await asyncpg.connect(migrated.database_url)
        try:
            assert (
                await conn.fetchval("SELECT count(*) FROM scans WHERE event_id = $1", door.event_id)
                == 120
            )
            assert (
                await conn.fetchval(
                    "SELECT sum(n) FROM inside_counts WHERE event_id = $1", door.event_id
                )
                == 60
            )
        finally:
            await conn.close()
    finally:
        for proc in victims:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        stop.set()
        await arrives(others, what="the in-process workers to stop")
