"""A check-in worker killed with SIGKILL mid-storm: no scan lost, none applied twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

import asyncpg

from bilten.hub.app import create_app
from bilten.infra.settings import Settings, settings_env
from bilten.workers.main import run_workers
from tests.checkin.helpers import door_setup, scan
from tests.hub.helpers import connect


def _spawn_checkin_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_env(settings)}
    return subprocess.Popen([sys.executable, "-m", "bilten.deploy.cli", "worker", "checkin"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_sigkill_of_a_checkin_worker_loses_no_scan(
        migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any) -> None:
    settings = migrated.replace(request_timeout_s=6.0)
    stop = asyncio.Event()
    others = asyncio.get_running_loop().create_task(
        run_workers(settings, ["events", "tickets"], stop))
    victims = [_spawn_checkin_worker(settings) for _ in range(2)]
    await asyncio.sleep(0.3)  # the in-process workers subscribe
    try:
        hub = await aiohttp_client(await aiohttp_server(create_app(settings)))
        organizer = await connect(hub, make_token("organizer"))
        door = await door_setup(organizer, count=60)
        # Wait until both worker processes answer.
        for _ in range(100):
            reply = await organizer.call("checkin.list", {"event_id": door.event_id})
            if reply["op"] == "result":
                break
            await asyncio.sleep(0.1)
        scanners = [await connect(hub, make_token("staff", events=[door.event_id],
                                                  sub=f"gate-{n}")) for n in range(6)]

        verdicts: list[dict[str, Any]] = []
        quarter_done = asyncio.Event()

        async def storm(raw: Any, n: int) -> None:
            for i, ticket in enumerate(door.tickets[n::6] * 2):  # each ticket scanned twice
                verdicts.append(await scan(raw, door.event_id, ticket["code"],
                                           nonce=f"gate-{n}:{i:06d}"))
                if len(verdicts) >= 30:
                    quarter_done.set()

        async def killer() -> int:
            await quarter_done.wait()
            victims[0].send_signal(signal.SIGKILL)
            return len(verdicts)

        _, killed_at = await asyncio.gather(
            asyncio.gather(*(storm(raw, n) for n, raw in enumerate(scanners))), killer())
        assert 30 <= killed_at < 120  # mid-storm
        assert len(verdicts) == 120
        assert victims[0].wait(5) == -signal.SIGKILL
        ok = [v["ticket"]["id"] for v in verdicts if v["status"] == "ok"]
        assert sorted(ok) == sorted(t["id"] for t in door.tickets)  # each exactly once
        assert {v["reason"] for v in verdicts if v["status"] != "ok"} == {"already_inside"}
        assert settings.database_url
        conn = await asyncpg.connect(settings.database_url)
        try:
            assert await conn.fetchval(
                "SELECT count(*) FROM scans WHERE event_id = $1", door.event_id) == 120
            assert await conn.fetchval(
                "SELECT sum(n) FROM inside_counts WHERE event_id = $1", door.event_id) == 60
        finally:
            await conn.close()
    finally:
        for proc in victims:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        stop.set()
        await asyncio.wait_for(others, 10)
