"""The analytics worker: the event log streamed into ClickHouse, and the stats read from it.

docs/insight.md §Analytics. A durable consumer on the events stream takes a
batch at a time (workers/batch_consumer.py): every domain event that counts
becomes a fact (protocol/analytics_facts.py), the batch is one INSERT, and the
per-minute rollup rows it touched are recomputed from the facts
(workers/analytics_sql.py). Acknowledged after both, so a crash in between
means a redelivery, which changes nothing twice. Stats are commands this
worker answers, as the data may be in its own process (chdb); a rebuild
re-publishes the event's log (`bilten replay`) and reads it back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg

from bilten.infra.replay import END, replay
from bilten.protocol.analytics import (
    MINUTE_S,
    build_series,
    build_totals,
    floor_to,
    iso,
    parse_stats_query,
    parse_totals_query,
)
from bilten.protocol.analytics_facts import Fact, fact_of
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Forbidden, Timeout
from bilten.protocol.event_log import (
    HDR_REPLAY_MSG_ID,
    HDR_REPLAY_OCCURRED,
    HDR_REPLAY_SEQ,
    parse_domain_event,
)
from bilten.protocol.events import parse_event_id
from bilten.protocol.subjects import ANALYTICS_CONSUMER, HDR_MSG_ID
from bilten.workers import analytics_sql as sql
from bilten.workers.analytics_store import EXTRA, MODULES, embedded_lock
from bilten.workers.batch_consumer import domain_events
from bilten.workers.context import WorkerContext
from bilten.workers.shape import BatchConsumer, Worker

log = logging.getLogger(__name__)

REBUILD_BATCH = 500  # replayed facts per INSERT
REPLAY_IDLE_S = 30.0  # the longest wait for the next replayed message
MAX_ORG_EVENTS = 1000  # events compared in one answer, the oldest first


def _db(ctx: WorkerContext) -> str:
    return ctx.settings.namespace


async def store_facts(ctx: WorkerContext, facts: Sequence[Fact]) -> None:
    """Insert facts, then recompute the rollup rows of the minutes they fall in."""
    if not facts:
        return
    store, db = ctx.analytics.store, _db(ctx)
    await store.run(sql.insert_facts(db, facts))
    await store.run(sql.recompute(db, {(f.event_id, floor_to(f.at, MINUTE_S)) for f in facts}))


def facts_of(msgs: Sequence[Msg]) -> tuple[list[Fact], list[Msg]]:
    """The facts of a batch of domain events, and the messages that are no domain event."""
    facts: list[Fact] = []
    parsed, refused = domain_events(msgs)
    for msg, entry in parsed:
        meta = msg.metadata
        fact = fact_of(
            entry.payload,
            version=meta.sequence.stream,
            msg_id=(msg.headers or {}).get(HDR_MSG_ID),
            origin=f"{meta.stream}:{meta.sequence.stream}",
            stored=meta.timestamp or datetime.now(UTC),
        )
        if fact is not None:
            facts.append(fact)
    return facts, refused


async def write(msgs: Sequence[Msg], ctx: WorkerContext) -> Sequence[Msg]:
    """A batch from the events stream into the facts and the rollup; returns the malformed."""
    facts, refused = facts_of(msgs)
    await store_facts(ctx, facts)
    return refused


async def event_stats(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """stats.event: one event's metric in steps (the hub checked the event is the caller's)."""
    query = parse_stats_query(request.params, parse_event_id(request.params), datetime.now(UTC))
    store, db = ctx.analytics.store, _db(ctx)
    found = await store.rows(
        sql.series(db, query.metric, query.event_id, query.step_s, query.start, query.end)
    )
    before = 0
    if query.metric == "inside":
        [row] = await store.rows(sql.before(db, query.metric, query.event_id, query.start))
        before = int(row["value"])
    buckets = [(int(r["bucket"]), str(r["currency"]), int(r["value"])) for r in found]
    return {
        "event_id": query.event_id,
        "metric": query.metric,
        "step": query.step,
        "from": iso(query.start),
        "to": iso(query.end),
        "at": [iso(point) for point in query.points()],
        "series": build_series(query, buckets, before),
    }


async def org_stats(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """stats.org: a metric's total for each event of an organization the caller reaches."""
    org = request.params.get("org")
    if not isinstance(org, str):
        raise BadRequest("org must be an organization", field="org")
    query = parse_totals_query(request.params, org)
    claims = request.claims
    if claims.role != "service" and claims.org != org:
        raise Forbidden(f"token does not cover organization {org}")
    rows = await ctx.pg.fetch(
        "SELECT id, name FROM events WHERE org_id = $1 ORDER BY id LIMIT $2", org, MAX_ORG_EVENTS
    )
    events = [r for r in rows if claims.covers_event(r["id"], org)]
    by_event: dict[int, list[tuple[str, int]]] = {r["id"]: [] for r in events}
    if events:
        found = await ctx.analytics.store.rows(
            sql.totals(_db(ctx), query.metric, by_event, query.start, query.end)
        )
        for r in found:
            by_event[int(r["event_id"])].append((str(r["currency"]), int(r["value"])))
    return {
        "org": org,
        "metric": query.metric,
        "from": None if query.start is None else iso(query.start),
        "to": None if query.end is None else iso(query.end),
        "events": [
            {
                "event_id": r["id"],
                "name": r["name"],
                "totals": build_totals(query.metric, by_event[r["id"]]),
            }
            for r in events
        ],
    }


async def rebuild(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """stats.rebuild: re-publish the event's log and read it back into the facts.

    Every replayed entry becomes the fact it became live, with the same key and
    version, so facts already there are written again unchanged and lost ones come
    back; then every rollup row of the event is recomputed. Nothing is counted twice.
    """
    event_id = parse_event_id(request.params)
    done = await replay(ctx.deps, event_id)
    facts = 0
    async for batch in _replayed(ctx, done.run):
        await ctx.analytics.store.run(sql.insert_facts(_db(ctx), batch))
        facts += len(batch)
    await ctx.analytics.store.run(sql.recompute_event(_db(ctx), event_id))
    log.info(
        "analytics of event %d rebuilt from %d entries (%d facts)",
        event_id,
        done.count,
        facts,
        extra={"ctx": {"event_id": event_id, "run": done.run}},
    )
    return {"event_id": event_id, "run": done.run, "replayed": done.count, "facts": facts}


async def _replayed(ctx: WorkerContext, run: str) -> AsyncIterator[list[Fact]]:
    """The facts of a replay run, in batches, until its `end` message."""
    subjects = ctx.subjects
    sub = await ctx.deps.js.subscribe(
        subjects.replay(run, ">"), stream=subjects.replay_stream, ordered_consumer=True
    )
    batch: list[Fact] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=REPLAY_IDLE_S)
            except TimeoutError:
                raise Timeout(f"replay run {run} stopped before its end") from None
            if msg.subject == subjects.replay(run, END):
                break
            fact = _replayed_fact(msg)
            if fact is not None:
                batch.append(fact)
            if len(batch) >= REBUILD_BATCH:
                yield batch
                batch = []
    finally:
        await sub.unsubscribe()
    if batch:
        yield batch


def _replayed_fact(msg: Msg) -> Fact | None:
    """A replayed entry's fact: the original's key, version and time, from the headers."""
    headers = msg.headers or {}
    stream, _, seq = headers.get(HDR_REPLAY_SEQ, "").rpartition(":")
    occurred = headers.get(HDR_REPLAY_OCCURRED)
    try:
        entry = parse_domain_event(msg.data)
        version = int(seq)
        stored = datetime.fromisoformat(occurred) if occurred else datetime.now(UTC)
    except (BadRequest, ValueError):
        log.warning("replayed entry without its origin skipped: %s", msg.subject)
        return None
    return fact_of(
        entry.payload,
        version=version,
        msg_id=headers.get(HDR_REPLAY_MSG_ID),
        origin=f"{stream}:{seq}",
        stored=stored,
    )


@asynccontextmanager
async def lifespan(ctx: WorkerContext) -> AsyncIterator[None]:
    """Open the store (embedded or the server) and create the tables for the worker's run."""
    async with ctx.analytics.opened(ctx.settings) as store:
        for statement in sql.schema(_db(ctx)):
            await store.run(statement)
        log.info("analytics in %s", "ClickHouse server" if ctx.settings.clickhouse_url else "chdb")
        yield


WORKER = Worker(
    "analytics",
    commands={"stats.event": event_stats, "stats.org": org_stats, "stats.rebuild": rebuild},
    consumers=(BatchConsumer(ANALYTICS_CONSUMER, write),),
    lifespan=lifespan,
    alone=embedded_lock,
    extra=EXTRA,
    imports=MODULES,
)
"""Analytics: the events consumer writes facts and rollups; the commands read and rebuild."""
