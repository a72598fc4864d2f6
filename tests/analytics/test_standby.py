"""Embedded ClickHouse opens in one process at a time: a second analytics worker
process on the same data directory stands by, and takes over with every fact
kept when the first is SIGKILLed (`bilten up --workers 2` runs two).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bilten.hub.app import create_app
from bilten.infra import outbox
from bilten.infra.deps import Deps, open_deps
from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.hub.helpers import connect, create_event
from tests.ready import free_port, spawn_worker, workers_answer
from tests.waiting import arrives, wait_for

pytestmark = pytest.mark.faults


async def _order(deps: Deps, event_id: int, order_id: int, tickets: int) -> None:
    """An `orders.created` domain event through the outbox, as the tickets worker sends it."""
    order = {
        "order_id": order_id,
        "owner_sub": f"buyer-{order_id}",
        "tickets": tickets,
        "ticket_ids": list(range(100 * order_id, 100 * order_id + tickets)),
        "amount": 1000 * tickets,
        "currency": "EUR",
        "created_at": datetime.now(UTC).isoformat(),
    }
    async with deps.pg.acquire() as conn, conn.transaction():
        row = await outbox.enqueue(conn, "orders.created", {"event_id": event_id, "order": order})
    await outbox.flush(deps, [row])


async def _healthy(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def test_a_second_analytics_process_stands_by_and_takes_over(
    migrated: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    others = sorted(set(WORKERS) - {"analytics"})
    stop = asyncio.Event()
    running = asyncio.get_running_loop().create_task(run_workers(migrated, others, stop))
    ports = [free_port(), free_port()]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        async with open_deps(migrated, "bilten-test-standby") as deps:
            processes.append(spawn_worker(migrated, "analytics", ports[0]))
            await workers_answer(migrated, [*others, "analytics"], running=running)
            # The first holds the store now: the second can only stand by.
            processes.append(spawn_worker(migrated, "analytics", ports[1]))

            async def standing_by() -> bool:
                assert processes[1].poll() is None, "the second analytics process exited"
                return await _healthy(ports[1])

            await wait_for(standing_by, what="the second analytics process to stand by")

            client = await aiohttp_client(create_app(migrated))
            token = make_token("organizer")
            event_id = await create_event(await connect(client, token))

            async def sales() -> int:
                async with client.get(
                    f"/api/v1/events/{event_id}/stats",
                    params={"metric": "sales"},
                    headers={"Authorization": f"Bearer {token}"},
                ) as resp:
                    body = await resp.json()
                if resp.status != 200:  # the killed process's request, or no responder yet
                    return -1
                return int(body["series"][0]["total"])

            await _order(deps, event_id, 1, tickets=2)
            await wait_for(lambda: _equals(sales, 2), what="the first order counted")

            processes[0].send_signal(signal.SIGKILL)
            await arrives(asyncio.to_thread(processes[0].wait), what="the holder to die")
            await _order(deps, event_id, 2, tickets=3)
            await wait_for(
                lambda: _equals(sales, 5), what="the standby to take over with both orders"
            )
            assert processes[1].poll() is None
    finally:
        for process in processes:
            process.kill()
            process.wait()
        stop.set()
        await arrives(running, what="the other workers to stop")


async def _equals(read: Any, expected: int) -> bool:
    got = await read()
    assert got == expected, f"sales {got}, expected {expected}"
    return True
