"""`bilten worker NAME|all`: run workers until SIGTERM/SIGINT, then drain."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bilten.infra import health
from bilten.infra.bootstrap import stream_limits
from bilten.infra.context import DEPS, METRICS
from bilten.infra.deps import Deps, open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.infra.signals import install_stop_signals
from bilten.infra.streams import declare
from bilten.workers.registry import WORKERS

log = logging.getLogger(__name__)


@asynccontextmanager
async def metrics_server(deps: Deps, metrics: Metrics, host: str,
                         port: int | None) -> AsyncIterator[None]:
    """/healthz, /readyz and /metrics for a worker process, when a port is given."""
    if port is None:
        yield
        return
    app = web.Application()
    app[DEPS] = deps
    app[METRICS] = metrics
    health.add_routes(app)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("worker metrics on http://%s:%d/metrics", host, port)
    try:
        yield
    finally:
        await runner.cleanup()


async def run_workers(settings: Settings, names: list[str], stop: asyncio.Event,
                      metrics_port: int | None = None) -> None:
    """Run the named workers in one process, sharing connections, until `stop`."""
    metrics = Metrics()
    async with open_deps(settings, f"bilten-worker-{'+'.join(names)}") as deps, \
            metrics_server(deps, metrics, settings.host, metrics_port), \
            asyncio.TaskGroup() as group:
        await declare(deps.js, deps.subjects, stream_limits(settings))
        for name in names:
            group.create_task(WORKERS[name](deps, metrics, stop), name=f"worker-{name}")
    log.info("workers stopped: %s", ", ".join(names))


async def main(settings: Settings, name: str, metrics_port: int | None) -> None:
    """Entry point body for `bilten worker`."""
    names = sorted(WORKERS) if name == "all" else [name]
    stop = asyncio.Event()
    install_stop_signals(stop)
    await run_workers(settings, names, stop, metrics_port)
