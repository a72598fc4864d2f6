"""An export that cannot go on after its first page ends without the final chunk:
the client sees an incomplete body, never a file that looks whole (docs/insight.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.checkin.helpers import door_setup
from tests.exports.test_memory import seed
from tests.hub.helpers import connect
from tests.ready import workers_answer
from tests.waiting import WAIT_S, arrives


async def test_workers_gone_mid_export_cut_the_download(
    migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    stop = asyncio.Event()
    running = asyncio.get_running_loop().create_task(run_workers(migrated, sorted(WORKERS), stop))
    await workers_answer(migrated, sorted(WORKERS), running=running)
    try:
        client = await aiohttp_client(await aiohttp_server(create_app(migrated)))
        token = make_token("organizer")
        door = await door_setup(await connect(client, token), count=1)
        # 23 MB of JSON: more than the sockets buffer, so the hub waits on the client.
        await seed(migrated, door.event_id, door.type_id, 100_000 - 1)
        resp = await client.get(
            f"/api/v1/events/{door.event_id}/exports/tickets.json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status == 200
        assert (await resp.content.readexactly(1 << 16)).startswith(b'[\n{"ticket_id":')
    finally:
        stop.set()
        await arrives(running, what="the workers to stop")

    async def read_to_the_end() -> int:
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
        return size

    with pytest.raises(aiohttp.ClientPayloadError):
        await arrives(read_to_the_end(), what="the download to end", timeout=WAIT_S * 4)
