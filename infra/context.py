"""Typed application keys: where the hub keeps its resources.

Everything a request handler needs is reached through these keys on the
aiohttp application; nothing lives in module globals.
"""

from __future__ import annotations

from aiohttp import web

from bilten.infra.deps import Deps
from bilten.infra.metrics import Metrics

DEPS = web.AppKey("deps", Deps)
METRICS = web.AppKey("metrics", Metrics)
