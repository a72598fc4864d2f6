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


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run one hub on settings.host:port until `stop` is set.

    Shutdown order: stop accepting, tell open sockets to reconnect elsewhere
    (the app's on_shutdown), wait for handlers, close connections.
    """
    app = create_app(settings)
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096)
    await site.start()
    log.info("hub listening on http://%s:%d", settings.host, settings.port)
    try:
        await stop.wait()
    finally:
        log.info("hub shutting down")
        await runner.cleanup()


async def main(settings: Settings) -> None:
    """Entry point body for `bilten hub`."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    tune_for_server()
    await serve(settings, stop)
