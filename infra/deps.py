"""The app context: connections and configuration, handed to every handler.

Hubs and workers open the same set of connections the same way; nothing is
global. `open_deps` is an async context manager that closes in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg
import nats
import redis.asyncio as aioredis
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bilten.infra.channel_log import ChannelLog
from bilten.infra.db import create_pool
from bilten.infra.keys import RedisKeys
from bilten.infra.settings import Settings, SettingsError
from bilten.protocol.subjects import Subjects

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Deps:
    """What a hub or worker needs at hand: settings, names and live connections."""

    settings: Settings
    subjects: Subjects
    keys: RedisKeys
    nc: NATS
    js: JetStreamContext
    pg: asyncpg.Pool
    redis: aioredis.Redis
    channels: ChannelLog


async def connect_nats(url: str, name: str, timeout: float = 5.0) -> NATS:
    """A NATS connection that reconnects forever and logs its state changes.

    `url` may name several servers of one cluster, comma-separated.

    An outage is logged once: a warning when the connection drops and an info
    when it is back; the errors of each reconnect attempt in between are debug.
    """
    connected = True

    async def on_error(error: Exception) -> None:
        if connected:
            log.warning("nats error: %s", error)
        else:
            log.debug("nats still away: %s", error)

    async def on_disconnected() -> None:
        nonlocal connected
        connected = False
        if nc.is_closed or nc.is_draining:  # our own shutdown
            log.info("nats connection closed")
        else:
            log.warning("nats disconnected; reconnecting until it is back")

    async def on_reconnected() -> None:
        nonlocal connected
        connected = True
        log.info("nats reconnected")

    nc: NATS = await nats.connect(
        url.split(","),
        name=name,
        connect_timeout=timeout,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        pending_size=64 << 20,
    )
    log.info("nats connected", extra={"ctx": {"client": name}})
    return nc


def _require(settings: Settings) -> tuple[str, str, str]:
    missing = [
        var
        for var, url in (
            ("BILTEN_NATS_URL", settings.nats_url),
            ("BILTEN_DATABASE_URL", settings.database_url),
            ("BILTEN_REDIS_URL", settings.redis_url),
        )
        if not url
    ]
    if missing:
        raise SettingsError(missing[0], "required here (only `bilten up` starts embedded servers)")
    assert settings.nats_url and settings.database_url and settings.redis_url
    return settings.nats_url, settings.database_url, settings.redis_url


@asynccontextmanager
async def open_deps(settings: Settings, name: str, *, pg_max: int = 10) -> AsyncIterator[Deps]:
    """Connect to NATS, PostgreSQL and Redis; close all of them on exit."""
    nats_url, db_url, redis_url = _require(settings)
    async with AsyncExitStack() as stack:
        nc = await connect_nats(nats_url, name, settings.request_timeout_s)
        stack.push_async_callback(_close_nats, nc)
        pg = await create_pool(db_url, min_size=1, max_size=pg_max)
        stack.push_async_callback(_close_pool, pg)
        # A blocking pool: a burst waits for a connection instead of failing with
        # "Too many connections" (the default pool's behaviour at its cap).
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url,
            max_connections=32,
            timeout=settings.request_timeout_s,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            health_check_interval=10,
            retry_on_timeout=True,
            retry=Retry(ExponentialBackoff(cap=1.0), 3),
            retry_on_error=[RedisConnectionError],
        )
        client = aioredis.Redis.from_pool(pool)  # closing the client closes the pool
        stack.push_async_callback(client.aclose)
        subjects = Subjects(settings.namespace)
        js = nc.jetstream(timeout=settings.request_timeout_s)
        channels = ChannelLog(js, subjects, timeout=settings.request_timeout_s)
        stack.push_async_callback(channels.close)
        yield Deps(
            settings=settings,
            subjects=subjects,
            keys=RedisKeys(settings.namespace),
            nc=nc,
            js=js,
            pg=pg,
            redis=client,
            channels=channels,
        )


async def _close_nats(nc: NATS) -> None:
    if nc.is_closed:
        return
    try:
        await asyncio.wait_for(nc.drain(), timeout=5.0)
    except (TimeoutError, nats.errors.Error) as error:
        log.warning("nats drain failed (%s); closing", error)
        await nc.close()


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), timeout=5.0)
    except TimeoutError:
        pool.terminate()
