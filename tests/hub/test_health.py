"""Health endpoints: /healthz, /metrics, and /readyz following each dependency down and up."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bilten.deploy.embedded import EmbeddedStack
from bilten.hub.app import create_app
from bilten.infra.bootstrap import prepare
from bilten.infra.settings import Settings, load_settings
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.waiting import arrives, wait_for


async def _status_becomes(client: Any, status: int) -> dict[str, Any]:
    async def answers() -> dict[str, Any]:
        resp = await client.get("/readyz")
        body: dict[str, Any] = await resp.json()
        assert resp.status == status, f"/readyz is {resp.status} {body}"
        return body

    return await wait_for(answers, what=f"/readyz to answer {status}")


async def test_healthz_and_metrics(workers: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(workers))
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"
    await _status_becomes(client, 200)  # once the workers serve their commands
    metrics = await (await client.get("/metrics")).text()
    assert "process_resident_memory_bytes" in metrics
    assert 'bilten_http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in metrics
    assert "bilten_ws_connections 0.0" in metrics
    assert "bilten_process_restarts_total 0.0" in metrics


async def test_readyz_names_the_workers_no_process_serves(
    migrated: Settings, aiohttp_client: Any
) -> None:
    """Without workers a command would fail with no_worker: not ready (issue 9)."""
    client = await aiohttp_client(create_app(migrated.replace(restart_count=2)))
    body = await _status_becomes(client, 503)
    assert body["failing"] == [
        "worker:accounts",
        "worker:allocation",
        "worker:analytics",
        "worker:checkin",
        "worker:engagement",
        "worker:events",
        "worker:exports",
        "worker:qa",
        "worker:tickets",
        "worker:webhooks",
    ]
    metrics = await (await client.get("/metrics")).text()
    assert "bilten_process_restarts_total 2.0" in metrics


@pytest.fixture
def own_stack() -> Any:
    """A private set of embedded servers this test may stop and restart."""
    with tempfile.TemporaryDirectory(prefix="bilten-ready-") as tmp:
        os.chmod(tmp, 0o755)
        with EmbeddedStack(Path(tmp)) as stack:
            yield stack


async def test_readyz_names_a_stopped_dependency_and_recovers(
    own_stack: EmbeddedStack, secret: str, aiohttp_client: Any
) -> None:
    urls = {
        "nats_url": await asyncio.to_thread(own_stack.start_nats),
        "database_url": await asyncio.to_thread(own_stack.start_postgres),
        "redis_url": await asyncio.to_thread(own_stack.start_redis),
    }
    settings = load_settings({}, secret=secret, **urls)
    await prepare(settings)
    stop = asyncio.Event()
    workers = asyncio.get_running_loop().create_task(run_workers(settings, sorted(WORKERS), stop))
    try:
        client = await aiohttp_client(create_app(settings))
        await _status_becomes(client, 200)
        for name, label in (("redis", "redis"), ("nats", "nats"), ("postgres", "postgres")):
            await asyncio.to_thread(own_stack.stop_one, name)
            body = await _status_becomes(client, 503)
            assert body["failing"] == [label]
            await asyncio.to_thread(own_stack.start_one, name)
            await _status_becomes(client, 200)
    finally:
        stop.set()
        await arrives(workers, what="the workers to stop")
