"""The hub's runtime: every long-lived piece a handler needs, built at startup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bilten.hub.api_keys import ApiKeys
from bilten.hub.auth import EventOwners, VerifiedTokens
from bilten.hub.connection import Connection, Flusher
from bilten.hub.fanout import Fanout
from bilten.hub.presence import Presence
from bilten.infra.channel_log import ChannelLog
from bilten.infra.deps import Deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Hub:
    """Settings, connections to the outside, and the fan-out machinery."""

    settings: Settings
    deps: Deps
    metrics: Metrics
    channel_log: ChannelLog
    fanout: Fanout
    owners: EventOwners
    tokens: VerifiedTokens
    api_keys: ApiKeys
    presence: Presence
    flusher: Flusher
    connections: set[Connection] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # Work a socket leaves behind when it closes (hub/reader.py), awaited on shutdown.
    closing: set[asyncio.Task[None]] = field(default_factory=set)

    def track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task the hub owns: `closing` holds it until it is done."""
        task = self.flusher.loop.create_task(work)
        self.closing.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task; one that failed is logged here, once."""
        self.closing.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("closing a connection failed", exc_info=error)


def build_hub(settings: Settings, deps: Deps, metrics: Metrics) -> Hub:
    """Assemble the runtime from open connections."""
    timeout = settings.request_timeout_s
    channel_log = deps.channels
    flusher = Flusher(settings.slow_consumer_grace_s)
    return Hub(
        settings=settings,
        deps=deps,
        metrics=metrics,
        channel_log=channel_log,
        fanout=Fanout(deps.nc, channel_log, deps.subjects, metrics, flusher, timeout),
        owners=EventOwners(deps.nc, deps.subjects, timeout),
        tokens=VerifiedTokens(settings),
        api_keys=ApiKeys(deps.nc, deps.subjects, timeout),
        presence=Presence(deps.redis, deps.keys),
        flusher=flusher,
    )


HUB = web.AppKey("hub", Hub)
