"""The hub's aiohttp application: routes, middlewares and resource lifetimes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from nats.errors import Error as NatsError

from bilten.hub import pages, rest
from bilten.hub.connection import LINGER_S
from bilten.hub.goodbye import GOODBYE_POLL_S, say_reconnect
from bilten.hub.keepalive import keep_alive
from bilten.hub.revocation import REVOCATIONS, Revocations
from bilten.hub.runtime import HUB, build_hub
from bilten.hub.ws import websocket
from bilten.infra import health
from bilten.infra.bootstrap import stream_limits
from bilten.infra.context import DEPS, METRICS
from bilten.infra.deps import open_deps
from bilten.infra.loops import every
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.infra.streams import declare

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SWEEP_INTERVAL_S = 0.5
WS_PATH = "/ws"


def skips_websocket(middleware: Middleware) -> Middleware:
    """`middleware` on every request but the WebSocket upgrade, which goes straight on.

    A WebSocket's request lasts as long as its connection, and so would each
    middleware's coroutine frame around it: a few hundred bytes per connection
    each, for counting and error translation that the socket does its own way
    (`bilten_ws_*` metrics, error frames).
    """

    @web.middleware
    def unless_websocket(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        if request.method == "GET" and request.path == WS_PATH:
            return handler(request)  # not awaited here: no frame of ours stays
        return middleware(request, handler)

    return unless_websocket


@web.middleware
async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every request by method, route template and status, and time it."""
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics = request.app[METRICS]
        metrics.http_requests.labels(request.method, template, str(status)).inc()
        metrics.http_latency.labels(template).observe(time.perf_counter() - started)


async def index(request: web.Request) -> web.Response:
    """GET /: where things are; a browser asking for HTML goes to the organizer's console."""
    if "text/html" in request.headers.get("Accept", ""):
        raise web.HTTPFound("/organizer")
    return rest.json_response(
        {
            "name": "Bilten hub",
            "links": {
                "docs": "docs/protocol.md (the wire contract, in the Bilten source)",
                "openapi": "/api/v1/openapi.json",
                "ws": WS_PATH,
                "health": "/healthz",
                "ready": "/readyz",
                "metrics": "/metrics",
                "organizer": "/organizer",
            },
        }
    )


async def _sweep(app: web.Application) -> None:
    """Apply the slow-consumer rule to idle connections, end expired tokens' connections, count.

    Expiry is checked here, every `SWEEP_INTERVAL_S`, rather than by a timer
    per connection: thousands of idle sockets would each hold one (~0.5 KiB).
    """
    hub = app[HUB]
    written = 0

    async def sweep_once() -> None:
        nonlocal written
        now, wall = time.monotonic(), time.time()
        for conn in list(hub.connections):
            if conn.over_since is not None:
                conn.check_buffer(now)
            if conn.claims.expired(wall):
                conn.disconnect("token_expired", "access token expired")
        hub.metrics.ws_messages_out.inc(hub.flusher.messages_out - written)
        written = hub.flusher.messages_out

    await every(SWEEP_INTERVAL_S, sweep_once, hub.stop, name="hub sweep")


def create_app(settings: Settings, *, name: str = "bilten-hub") -> web.Application:
    """Build a hub application; connections open on startup and close on cleanup."""
    app = web.Application(
        middlewares=[skips_websocket(m) for m in (measure, rest.routing_errors, rest.api_errors)],
        client_max_size=settings.max_frame_bytes,
    )
    app[METRICS] = Metrics()

    async def runtime(app: web.Application) -> AsyncIterator[None]:
        async with open_deps(settings, name) as deps:
            await declare(deps.js, deps.subjects, stream_limits(settings))
            app[DEPS] = deps
            hub = app[HUB] = build_hub(settings, deps, app[METRICS])
            revocations = app[REVOCATIONS] = Revocations(deps.redis, deps.keys)
            pushed = await revocations.listen(deps.nc, deps.subjects, hub.connections, hub.api_keys)
            await revocations.refresh()  # before the first request: no window at startup
            # Startup and cleanup run in different tasks, so no TaskGroup spans the yield:
            # these are owned here and awaited after `stop` is set.
            loop = asyncio.get_running_loop()
            background = [
                loop.create_task(hub.presence.heartbeat(hub.stop)),
                loop.create_task(_sweep(app)),
                loop.create_task(revocations.run(hub.connections, hub.stop)),
                loop.create_task(
                    keep_alive(
                        hub.connections, settings.ping_interval_s, settings.ping_timeout_s, hub.stop
                    )
                ),
            ]
            try:
                yield
            finally:
                hub.stop.set()
                with contextlib.suppress(NatsError):  # NATS is gone: so is the subscription
                    await pushed.unsubscribe()
                await asyncio.gather(*background)
                await asyncio.gather(*hub.closing, return_exceptions=True)
                await hub.fanout.close()

    async def goodbye(app: web.Application) -> None:
        """On shutdown, ask every client to reconnect (to another hub), and let them go.

        A client is told as soon as it has answered what it read
        (hub/goodbye.py), so it loses no answer. The sockets are the hub's,
        not aiohttp's (hub/ws.py), so aiohttp does not wait for them: each gets
        `LINGER_S` to read its `disconnect` and close, as any disconnect does,
        and is cut after that.
        """
        hub = app[HUB]
        await say_reconnect(hub.connections, "hub shutting down", hub.settings.request_timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_S
        while hub.connections and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(GOODBYE_POLL_S)
        for conn in list(hub.connections):
            conn.transport.abort()
        await asyncio.gather(*hub.closing, return_exceptions=True)

    app.cleanup_ctx.append(runtime)
    app.on_shutdown.append(goodbye)
    health.add_routes(app)
    rest.add_routes(app)
    pages.add_routes(app)
    app.router.add_get(WS_PATH, websocket)
    app.router.add_get("/", index)
    return app
