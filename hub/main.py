"""`bilten hub`: serve the hub until SIGTERM/SIGINT, then shut down in order."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bilten.hub.app import create_app
from bilten.infra.collector import tune_for_server
from bilten.infra.settings import Settings
from bilten.infra.signals import install_stop_signals

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 5.0


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    reuse_port: bool = False,
    own_port: int | None = None,
) -> None:
    """Run one hub on settings.host:port until `stop` is set.

    With `reuse_port` several hubs share that port (SO_REUSEPORT, Linux: the
    kernel spreads new connections over them); `own_port` serves the same app
    on a port of this process alone, so `bilten status` reaches each hub's
    /healthz and /metrics. Shutdown order: stop accepting, tell open sockets
    to reconnect elsewhere (the app's on_shutdown), wait for handlers, close
    connections.
    """
    app = create_app(settings)
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096, reuse_port=reuse_port)
    await site.start()
    log.info("hub listening on http://%s:%d", settings.host, settings.port)
    if own_port is not None:
        await web.TCPSite(runner, settings.host, own_port).start()
        log.info("hub's own port http://%s:%d", settings.host, own_port)
    try:
        await stop.wait()
    finally:
        log.info("hub shutting down")
        await runner.cleanup()


async def main(settings: Settings, *, reuse_port: bool, own_port: int | None) -> None:
    """Entry point body for `bilten hub`."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    tune_for_server()
    await serve(settings, stop, reuse_port=reuse_port, own_port=own_port)
