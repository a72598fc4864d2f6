"""`bilten analytics rebuild --event E`: rebuild an event's analytics from its event log.

The analytics may live inside the analytics worker's process (embedded
ClickHouse), so this command does not open them: it asks the worker
(`stats.rebuild`, docs/insight.md §Analytics), as a service, and waits.
"""

from __future__ import annotations

import time

from bilten.infra.bootstrap import declare_streams
from bilten.infra.deps import open_deps
from bilten.infra.rpc import request
from bilten.infra.settings import Settings
from bilten.protocol.analytics_commands import REBUILD_TIMEOUT_S
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.tokens import mint_claims


async def rebuild(settings: Settings, event_id: int) -> str:
    """Have the analytics worker rebuild event `event_id`; returns the line to print."""
    await declare_streams(settings)
    claims = mint_claims(
        sub="bilten-cli",
        org="bilten",
        role="service",
        events="*",
        ttl_s=int(REBUILD_TIMEOUT_S),
        now=time.time(),
    )
    payload = encode_request(CommandRequest("stats.rebuild", claims, {"event_id": event_id}))
    async with open_deps(settings, "analytics-rebuild", pg_max=1) as deps:
        done = await request(
            deps.nc,
            deps.subjects.command("stats.rebuild"),
            payload,
            timeout=REBUILD_TIMEOUT_S,
            what="stats.rebuild",
        )
    return (
        f"rebuilt analytics of event {event_id} from {done['replayed']} domain events"
        f" ({done['facts']} counted) as run {done['run']}"
    )
