"""The audit worker: copies every domain event from JetStream into PostgreSQL.

The seed of the persistence worker: an append-only, queryable record of what
happened. (stream, seq) is the primary key, so a redelivered message is
recorded once. Mail requests are recorded without their variables.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from nats.aio.msg import Msg

from bilten.protocol.errors import BadRequest
from bilten.protocol.mail import MAIL_REQUESTED
from bilten.workers.context import WorkerContext


async def record(msg: Msg, ctx: WorkerContext) -> None:
    """Insert one domain event; a malformed one is terminated, not retried."""
    try:
        body = orjson.loads(msg.data)
        kind = str(body["kind"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise BadRequest(f"malformed domain event: {error}") from None
    if kind == MAIL_REQUESTED:  # its variables carry sign-in and reset links: credentials
        body = {**body, "vars": "(not recorded)"}
    event_id = body.get("event_id")
    meta = msg.metadata
    occurred = meta.timestamp if meta.timestamp else datetime.now(UTC)
    await ctx.pg.execute(
        """INSERT INTO domain_events (stream, seq, kind, event_id, payload, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        meta.stream,
        meta.sequence.stream,
        kind,
        event_id if isinstance(event_id, int) else None,
        body,
        occurred,
    )
