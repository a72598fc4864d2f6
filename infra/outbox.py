"""Transactional outbox: nothing is lost between PostgreSQL and NATS.

Rows are domain events (to the events stream) or channel publications (to
channel history, via ChannelLog).

A worker writes its change and the domain event in one transaction
(`enqueue`), then publishes after commit (`flush`). If the process dies in
between, `relay` publishes what was left. Each row is published keyed by its id
(`Nats-Msg-Id` for domain events, a publication key for channel rows:
docs/protocol.md §Publishing exactly once), so a row published twice within
the duplicate window is stored once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from bilten.infra.deps import Deps
from bilten.infra.loops import attempt, every
from bilten.protocol.subjects import HDR_MSG_ID

CHANNEL = "channel"  # outbox rows that are channel publications, not domain events
# The relay leaves younger rows to the live writer that queued them: under load its
# publisher may be seconds behind, and publishing a row twice costs a repeat's lookup.
RELAY_MIN_AGE_S = 10.0


def publication(channel: str, data: Any) -> tuple[str, dict[str, Any]]:
    """The outbox row (kind, payload) of a channel publication, for `enqueue_many`."""
    return CHANNEL, {"channel": channel, "data": data}


async def enqueue_publication(
    conn: asyncpg.Connection | PoolConnectionProxy, channel: str, data: Any
) -> int:
    """Record a channel publication inside the caller's transaction; returns its id."""
    return await enqueue(conn, *publication(channel, data))


async def enqueue(
    conn: asyncpg.Connection | PoolConnectionProxy, kind: str, payload: dict[str, Any]
) -> int:
    """Record a domain event inside the caller's transaction; returns its id."""
    outbox_id: int = await conn.fetchval(
        "INSERT INTO outbox (subject_kind, payload) VALUES ($1, $2) RETURNING id", kind, payload
    )
    return outbox_id


async def enqueue_many(
    conn: asyncpg.Connection | PoolConnectionProxy, rows: Sequence[tuple[str, dict[str, Any]]]
) -> list[int]:
    """Record (kind, payload) rows in one statement inside the caller's transaction.

    A batch of decisions writes its outbox rows at once instead of one round
    trip each; the ids come back in the order given, so publications keep it.
    """
    if not rows:
        return []
    records = await conn.fetch(
        "INSERT INTO outbox (subject_kind, payload)"
        " SELECT kind, payload::jsonb FROM unnest($1::text[], $2::text[])"
        " WITH ORDINALITY AS r (kind, payload, n) ORDER BY n RETURNING id",
        [kind for kind, _payload in rows],
        [orjson.dumps(payload).decode() for _kind, payload in rows],
    )
    return sorted(r["id"] for r in records)


async def flush(deps: Deps, ids: list[int] | None = None) -> int:
    """Publish outbox rows (the given ones, or all) and delete them once stored."""
    rows = await deps.pg.fetch(
        "SELECT id, subject_kind, payload FROM outbox WHERE ($1::bigint[] IS NULL OR id = ANY($1))"
        " ORDER BY id LIMIT 500",
        ids,
    )
    done: list[int] = []
    by_channel: dict[str, list[asyncpg.Record]] = {}
    events: list[asyncpg.Record] = []
    for row in rows:
        if row["subject_kind"] == CHANNEL:
            by_channel.setdefault(row["payload"]["channel"], []).append(row)
        else:
            events.append(row)

    async def publish_channel(channel: str, group: list[asyncpg.Record]) -> None:
        items = [(orjson.dumps(r["payload"]["data"]), _msg_id(deps, r)) for r in group]
        await deps.channels.publish_keyed(channel, items)
        done.extend(r["id"] for r in group)

    async def publish_event(row: asyncpg.Record) -> None:
        body = {"kind": row["subject_kind"], **row["payload"]}
        await deps.js.publish(
            deps.subjects.events(row["subject_kind"]),
            orjson.dumps(body),
            headers={HDR_MSG_ID: _msg_id(deps, row)},
        )
        done.append(row["id"])

    # All at once, each channel's rows in order (an unpublished row stays for the relay).
    try:
        outcomes = await asyncio.gather(
            *(publish_channel(channel, group) for channel, group in by_channel.items()),
            *(publish_event(row) for row in events),
            return_exceptions=True,
        )
    finally:
        if done:  # one statement for the batch
            await deps.pg.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", done)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return len(rows)


def _msg_id(deps: Deps, row: asyncpg.Record) -> str:
    """A row's message id, so a second publish of it is stored once."""
    return f"outbox:{deps.settings.namespace}:{row['id']}"


async def publish_stale(deps: Deps, *, min_age_s: float = RELAY_MIN_AGE_S) -> None:
    """Publish (a batch of) the rows older than `min_age_s`: a crashed writer left them behind."""
    stale = await deps.pg.fetch(
        "SELECT id FROM outbox WHERE created_at < now() - make_interval(secs => $1)"
        " ORDER BY id LIMIT 500",
        min_age_s,
    )
    if stale:
        await flush(deps, [row["id"] for row in stale])


async def relay(
    deps: Deps, stop: asyncio.Event, *, interval_s: float = 1.0, min_age_s: float = RELAY_MIN_AGE_S
) -> None:
    """Publish rows a crashed writer left behind, every `interval_s`, until `stop`."""
    await every(
        interval_s, lambda: publish_stale(deps, min_age_s=min_age_s), stop, name="outbox relay"
    )


class Publisher:
    """Publishes outbox rows right after commit, off the request's critical path.

    Handlers `submit` the ids they committed and answer at once; one loop per
    worker publishes them in batches. Rows it cannot publish (NATS or
    PostgreSQL away) stay queued and are retried with backoff; rows it never
    gets to (a crash) are left for `relay`.
    """

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._wake = asyncio.Event()

    def submit(self, ids: list[int]) -> None:
        """Queue committed outbox rows for publishing."""
        self._ids.extend(ids)
        self._wake.set()

    async def run(self, deps: Deps, stop: asyncio.Event, *, interval_s: float = 1.0) -> None:
        """Publish submitted rows until `stop`, then try once more for what is still queued."""

        async def publish_queued() -> None:
            while self._ids:
                ids = self._ids[:500]
                await flush(deps, ids)
                del self._ids[: len(ids)]

        await every(interval_s, publish_queued, stop, name="outbox publisher", wake=self._wake)
        if self._ids:  # handlers that finished while stopping; the relay has the rest
            await attempt(publish_queued, name="outbox publisher")
