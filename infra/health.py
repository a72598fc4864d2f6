"""Liveness, readiness and metrics endpoints.

`/healthz` answers while the process runs. `/readyz` checks NATS, PostgreSQL
and Redis with a short timeout each and answers 503 naming those that fail,
so a load balancer takes the hub out until they come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from bilten.infra.context import DEPS, METRICS
from bilten.infra.deps import Deps
from bilten.infra.metrics import CONTENT_TYPE

CHECK_TIMEOUT_S = 1.0


async def check_nats(deps: Deps) -> None:
    """A round trip to the NATS server (PING/PONG)."""
    if not deps.nc.is_connected:
        raise ConnectionError("not connected")
    await deps.nc.flush(timeout=1)


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


async def healthz(request: web.Request) -> web.Response:
    """200 while the process is alive."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when every dependency answers, else 503 with the failing ones."""
    failing = await failing_dependencies(request.app[DEPS])
    if failing:
        body = {"status": "unavailable", "failing": failing}
        return web.Response(status=503, body=orjson.dumps(body), content_type="application/json")
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this process's registry."""
    return web.Response(body=request.app[METRICS].render(),
                        headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    """Mount /healthz, /readyz and /metrics."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
