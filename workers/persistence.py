"""The persistence worker: every domain event into the append-only `event_log`, once.

docs/insight.md §Event log. It reads the events stream through its durable
consumer a batch at a time (workers/batch_consumer.py) and writes each batch
with one multi-row INSERT in one transaction; the messages are acknowledged
after the commit. A message written twice (a redelivery after a crash between
commit and ack, an outbox row published again after the stream's duplicate
window) meets one of the log's two keys, (stream, seq) or `msg_id`, and is
skipped, so the log holds each event exactly once. A malformed message is
refused (terminated), never retried. Mail requests are logged without their
variables (protocol/event_log.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from nats.aio.msg import Msg

from bilten.protocol.subjects import HDR_MSG_ID
from bilten.workers.batch_consumer import domain_events
from bilten.workers.context import Conn, WorkerContext

_INSERT = """INSERT INTO event_log (stream, seq, msg_id, kind, event_id, payload, occurred_at)
    SELECT s, q, m, k, e, p::jsonb, o FROM unnest($1::text[], $2::bigint[], $3::text[],
        $4::text[], $5::bigint[], $6::text[], $7::timestamptz[]) AS r (s, q, m, k, e, p, o)
    ON CONFLICT DO NOTHING"""

# Columns: stream, seq, msg_id, kind, event_id, payload (JSON text), occurred_at.
Rows = tuple[
    list[str], list[int], list[str | None], list[str], list[int | None], list[str], list[datetime]
]


def rows_of(msgs: Sequence[Msg]) -> tuple[Rows, list[Msg]]:
    """The event log's columns for `msgs`, and the messages that are no domain event."""
    rows: Rows = ([], [], [], [], [], [], [])
    parsed, refused = domain_events(msgs)
    for msg, entry in parsed:
        meta = msg.metadata
        rows[0].append(meta.stream)
        rows[1].append(meta.sequence.stream)
        rows[2].append((msg.headers or {}).get(HDR_MSG_ID))
        rows[3].append(entry.kind)
        rows[4].append(entry.event_id)
        # The message's own JSON unless something was left out of it.
        payload = orjson.dumps(entry.payload) if entry.redacted else msg.data
        rows[5].append(payload.decode())
        rows[6].append(meta.timestamp or datetime.now(UTC))
    return rows, refused


async def insert_rows(conn: Conn, rows: Rows) -> None:
    """Append `rows` in one statement; those already logged are skipped."""
    if rows[0]:
        await conn.execute(_INSERT, *rows)


async def write(msgs: Sequence[Msg], ctx: WorkerContext) -> Sequence[Msg]:
    """Log a batch of domain events in one transaction; returns the malformed ones."""
    rows, refused = rows_of(msgs)
    async with ctx.pg.acquire() as conn:
        await insert_rows(conn, rows)  # one statement: its own transaction
    return refused
