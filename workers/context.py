"""The one object every handler of a worker gets: its connections, settings and shared state.

Built once when the worker starts (`WorkerContext(deps, metrics)`) and handed
to every command, snapshot, consumer and periodic job by the runner
(workers/shape.py), so a handler's parameters are its input and this, never
resources bound through closures or `functools.partial`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from nats.aio.client import Client as NATS

from bilten.infra import outbox
from bilten.infra.channel_log import ChannelLog
from bilten.infra.deps import Deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.protocol.subjects import Subjects
from bilten.workers.analytics_store import StoreHolder
from bilten.workers.dashboard_watch import DashboardWatch
from bilten.workers.device_usage import DeviceUsage
from bilten.workers.keys import KeyRing

Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy
"""A connection for one transaction: opened directly, or acquired from the pool."""


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """A worker's connections (`deps`), metrics, event key ring, outbox publisher,
    paired devices' usage counters (workers/device_usage.py), the dashboards
    it counts (workers/dashboard_watch.py) and the analytics store, open while
    the analytics worker runs (workers/analytics_store.py).

    The key ring caches signing keys for every handler of the worker; the
    publisher sends committed outbox rows after the answer, and the runner
    runs its loop.
    """

    deps: Deps
    metrics: Metrics
    keys: KeyRing = field(default_factory=KeyRing)
    publisher: outbox.Publisher = field(default_factory=outbox.Publisher)
    devices: DeviceUsage = field(default_factory=DeviceUsage)
    dashboards: DashboardWatch = field(default_factory=DashboardWatch)
    analytics: StoreHolder = field(default_factory=StoreHolder)

    @property
    def pg(self) -> asyncpg.Pool:
        """The PostgreSQL pool."""
        return self.deps.pg

    @property
    def nc(self) -> NATS:
        """The NATS connection."""
        return self.deps.nc

    @property
    def settings(self) -> Settings:
        """The process's settings."""
        return self.deps.settings

    @property
    def subjects(self) -> Subjects:
        """Subject and stream names of the namespace."""
        return self.deps.subjects

    @property
    def channels(self) -> ChannelLog:
        """Channel history: publishing and positions."""
        return self.deps.channels
