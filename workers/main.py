"""`bilten worker NAME|all`: run workers until SIGTERM/SIGINT, then drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from bilten.infra import health
from bilten.infra.bootstrap import stream_limits
from bilten.infra.collector import tune_for_server
from bilten.infra.context import DEPS, METRICS
from bilten.infra.deps import Deps, open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings, SettingsError
from bilten.infra.signals import install_stop_signals
from bilten.infra.streams import declare
from bilten.protocol.commands import COMMANDS
from bilten.workers.context import WorkerContext
from bilten.workers.registry import WORKERS
from bilten.workers.shape import run_worker

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.05


@asynccontextmanager
async def metrics_server(
    deps: Deps, metrics: Metrics, host: str, port: int | None
) -> AsyncIterator[None]:
    """/healthz, /readyz and /metrics for a worker process, when a port is given."""
    if port is None:
        yield
        return
    app = web.Application()
    app[DEPS] = deps
    app[METRICS] = metrics
    health.add_routes(app, require_workers=False)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("worker metrics on http://%s:%d/metrics", host, port)
    try:
        yield
    finally:
        await runner.cleanup()


async def _until_served(deps: Deps, method: str, stop: asyncio.Event) -> None:
    """Return once some process answers requests for `method` (or `stop` is set).

    An empty request is answered `bad_request` by whoever serves the subject,
    and refused at once by NATS while nobody does. A timeout (NATS away, say)
    proves nothing either way, so it is asked again.
    """
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            probe = asyncio.ensure_future(
                deps.nc.request(
                    deps.subjects.command(method), b"", timeout=deps.settings.request_timeout_s
                )
            )
            # A probe lost at shutdown (its responder gone) must not hold the stop up.
            await asyncio.wait({probe, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not probe.done():
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError, NatsError):
                    await probe
                return
            error = probe.exception()
            if error is None:
                return
            if not isinstance(error, NatsError):  # NatsError: no responders, or no answer
                raise error
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopped), PROBE_INTERVAL_S)
    finally:
        stopped.cancel()


async def answer_pings(deps: Deps, names: list[str], stop: asyncio.Event) -> None:
    """Answer `<ns>.ping.<worker>` for these workers once each serves every command it owns.

    The hub's /readyz sends these pings (hub/health.py), so "ready" means a
    command sent now finds its worker. Workers subscribe their commands in
    their own tasks; asking NATS whether each command subject has a responder
    is the one check that needs nothing from inside them.
    """
    owners = {name: sorted(m for m, c in COMMANDS.items() if c.worker == name) for name in names}
    owners = {name: methods for name, methods in owners.items() if methods}
    for methods in owners.values():
        for method in methods:
            await _until_served(deps, method, stop)

    async def pong(msg: Msg) -> None:
        if msg.reply:
            await msg.respond(b"")

    subs = [
        await deps.nc.subscribe(
            deps.subjects.worker_ping(name), queue=deps.subjects.queue_group(name), cb=pong
        )
        for name in owners
    ]
    if owners:
        log.info("workers serving every command: %s", ", ".join(owners))
    try:
        await stop.wait()
    finally:
        for sub in subs:
            await sub.unsubscribe()


async def run_workers(
    settings: Settings, names: list[str], stop: asyncio.Event, metrics_port: int | None = None
) -> None:
    """Run the named workers in one process, sharing connections, until `stop`."""
    metrics = Metrics()
    for name in names:
        if missing := WORKERS[name].missing(settings):
            log.warning(
                "worker %s not started: %s not set (its work waits in JetStream)",
                name,
                ", ".join(missing),
            )
    for name in names:
        if install := WORKERS[name].uninstalled():
            log.warning("worker %s not started: its extra is not installed (%s)", name, install)
    names = [
        name
        for name in names
        if not WORKERS[name].missing(settings) and not WORKERS[name].uninstalled()
    ]
    async with (
        open_deps(settings, f"bilten-worker-{'+'.join(names)}") as deps,
        metrics_server(deps, metrics, settings.host, metrics_port),
        asyncio.TaskGroup() as group,
    ):
        await declare(deps.js, deps.subjects, stream_limits(settings))
        for name in names:
            ctx = WorkerContext(deps, metrics)
            group.create_task(run_worker(WORKERS[name], ctx, stop), name=f"worker-{name}")
        group.create_task(answer_pings(deps, names, stop), name="worker-pings")
    log.info("workers stopped: %s", ", ".join(names))


async def main(settings: Settings, name: str, metrics_port: int | None) -> None:
    """Entry point body for `bilten worker`."""
    names = sorted(WORKERS) if name == "all" else [name]
    if name != "all" and (missing := WORKERS[name].missing(settings)):
        raise SettingsError(missing[0], f"worker {name} needs it")
    if name != "all" and (install := WORKERS[name].uninstalled()):
        raise SettingsError(f"worker {name}", f"its extra is not installed: {install}")
    stop = asyncio.Event()
    install_stop_signals(stop)
    tune_for_server()
    await run_workers(settings, names, stop, metrics_port)
