"""Prepare backing stores (SQL migrations, JetStream declarations) and drop them."""

from __future__ import annotations

import contextlib
import logging

import asyncpg
import redis.asyncio as aioredis
from nats.js.errors import NotFoundError

from bilten.infra.db import migrate_url
from bilten.infra.deps import connect_nats
from bilten.infra.keys import RedisKeys
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare, stream_configs
from bilten.protocol.subjects import Subjects

log = logging.getLogger(__name__)


def stream_limits(settings: Settings) -> StreamLimits:
    """Stream limits from settings."""
    return StreamLimits(
        history_size=settings.history_size,
        history_ttl_s=settings.history_ttl_s,
        replicas=settings.stream_replicas,
    )


async def declare_streams(settings: Settings) -> None:
    """Declare every stream and consumer (idempotent)."""
    assert settings.nats_url
    nc = await connect_nats(settings.nats_url, "bilten-bootstrap")
    try:
        await declare(nc.jetstream(), Subjects(settings.namespace), stream_limits(settings))
    finally:
        await nc.close()


async def prepare(settings: Settings) -> None:
    """Apply pending migrations and declare streams."""
    assert settings.database_url
    applied = await migrate_url(settings.database_url)
    log.info("migrations applied: %s", applied or "none pending")
    await declare_streams(settings)


async def drop_namespace(
    *, nats_url: str, database_url: str, redis_url: str, namespace: str
) -> None:
    """Remove everything one namespace owns: its schema, streams and Redis keys.

    For throw-away namespaces (a test, a benchmark run); `database_url` is the
    database itself, not confined to the namespace's schema.
    """
    admin = await asyncpg.connect(database_url, timeout=10)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {namespace} CASCADE")
    finally:
        await admin.close()
    nc = await connect_nats(nats_url, "bilten-cleanup")
    try:
        js = nc.jetstream()
        for config in stream_configs(Subjects(namespace), StreamLimits()):
            assert config.name
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(config.name)
    finally:
        await nc.close()
    client = aioredis.from_url(redis_url)
    try:
        keys = [
            key async for key in client.scan_iter(match=RedisKeys(namespace).pattern(), count=1000)
        ]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
