"""Prepare backing stores: SQL migrations and JetStream declarations."""

from __future__ import annotations

import logging

from bilten.core.db import migrate_url
from bilten.core.deps import connect_nats
from bilten.core.settings import Settings
from bilten.core.streams import StreamLimits, declare
from bilten.protocol.subjects import Subjects

log = logging.getLogger(__name__)


def stream_limits(settings: Settings) -> StreamLimits:
    """Stream limits from settings."""
    return StreamLimits(history_size=settings.history_size, history_ttl_s=settings.history_ttl_s)


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
