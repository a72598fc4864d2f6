"""Liveness, readiness and metrics endpoints.

`/healthz` answers while the process runs. `/readyz` checks NATS, PostgreSQL
and Redis with a short timeout each, and on a hub also that every worker named
in the command table answers its ping (`<ns>.ping.<worker>`, which a worker
process answers once it serves all of that worker's commands); it answers 503
naming what fails, so a load balancer, or `bilten up`, waits until a command
sent now would find its worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from nats.errors import Error as NatsError

from bilten.infra.context import DEPS, METRICS
from bilten.infra.deps import Deps
from bilten.infra.flush import flush
from bilten.infra.metrics import CONTENT_TYPE
from bilten.protocol.commands import COMMANDS

CHECK_TIMEOUT_S = 1.0
# Every worker some command needs, from the command table.
COMMAND_WORKERS = tuple(sorted({c.worker for c in COMMANDS.values() if c.worker}))


async def check_nats(deps: Deps) -> None:
    """A round trip to the NATS server (PING/PONG); raises when not connected."""
    await flush(deps.nc, CHECK_TIMEOUT_S)


async def check_postgres(deps: Deps) -> None:
    """SELECT 1 on a pooled connection."""
    async with deps.pg.acquire(timeout=CHECK_TIMEOUT_S) as conn:
        await conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_S)


async def check_redis(deps: Deps) -> None:
    """PING."""
    await deps.redis.ping()


CHECKS: dict[str, Callable[[Deps], Awaitable[None]]] = {
    "nats": check_nats,
    "postgres": check_postgres,
    "redis": check_redis,
}


async def failing_dependencies(deps: Deps) -> list[str]:
    """Names of the dependencies that do not answer within the check timeout."""

    async def run(check: Callable[[Deps], Awaitable[None]]) -> bool:
        try:
            await asyncio.wait_for(check(deps), CHECK_TIMEOUT_S)
        except Exception:  # any failure means "not ready"; the reason is not needed here
            return False
        return True

    results = await asyncio.gather(*(run(check) for check in CHECKS.values()))
    return [name for name, ok in zip(CHECKS, results, strict=True) if not ok]


async def missing_workers(deps: Deps) -> list[str]:
    """`worker:<name>` for each command worker whose ping gets no answer in time."""

    async def answers(worker: str) -> bool:
        try:
            await deps.nc.request(deps.subjects.worker_ping(worker), b"", timeout=CHECK_TIMEOUT_S)
        except (NatsError, TimeoutError):  # no responders, or none in time
            return False
        return True

    results = await asyncio.gather(*(answers(worker) for worker in COMMAND_WORKERS))
    return [f"worker:{w}" for w, ok in zip(COMMAND_WORKERS, results, strict=True) if not ok]


async def healthz(request: web.Request) -> web.Response:
    """200 while the process is alive."""
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this process's registry."""
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application, *, require_workers: bool = True) -> None:
    """Mount /healthz, /readyz and /metrics; a worker process passes `require_workers=False`.

    Also counts this process's restarts (from its settings) once its
    dependencies are open: the cleanup contexts run before on_startup hooks.
    """

    async def readyz(request: web.Request) -> web.Response:
        """200 when every dependency (and every command's worker) answers, else 503."""
        deps = request.app[DEPS]
        failing = await failing_dependencies(deps)
        if require_workers and "nats" not in failing:  # without NATS no worker can answer
            failing += await missing_workers(deps)
        if failing:
            body = {"status": "unavailable", "failing": failing}
            return web.Response(
                status=503, body=orjson.dumps(body), content_type="application/json"
            )
        return web.json_response({"status": "ready"})

    async def count_restarts(app: web.Application) -> None:
        app[METRICS].process_restarts.inc(app[DEPS].settings.restart_count)

    app.on_startup.append(count_restarts)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
