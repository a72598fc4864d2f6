"""Event-log write rate: domain events from JetStream into PostgreSQL, batched against one each.

`--events` (50,000) `checkin.decided` events, keyed like the outbox keys them,
are stored on the events stream first. Then each side drains them into the
event log through a durable consumer of its own, in this process, timed from
its first fetch to the last row committed, on uvloop as the worker runs:

- *batched*: the persistence worker's path (workers/batch_consumer.py and
  workers/persistence.py: up to 500 messages a fetch, one multi-row INSERT,
  acks after commit);
- *baseline*: the audit worker's path it replaced: the runner's per-message
  consumer (workers/runner.py), one INSERT (one commit) per event.

The log is emptied between the sides. A second pair of rows leaves NATS out:
the same rows written from memory, in 500-row statements against one INSERT
each, so the table shows what PostgreSQL alone takes. Every side must end
with each event logged exactly once.

`publish_backlog` and `worker_rate` measure the same path through a running
`bilten worker persistence` process instead (benchmarks/dashboard.py).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvloop
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from benchmarks.infra import Infra
from benchmarks.report import ratio_header, ratio_row
from bilten.infra.deps import Deps, open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.protocol.subjects import HDR_MSG_ID
from bilten.workers.batch_consumer import BATCH, consume_batches
from bilten.workers.context import WorkerContext
from bilten.workers.persistence import Rows, insert_rows, rows_of, write
from bilten.workers.runner import consume

NAME = "eventlog"
SUMMARY = "domain events/s into the PostgreSQL event log, batched against one INSERT per event"
PUBLISH_WINDOW = 512
BACKLOG_KEY = "backlog"  # message ids of the backlog's events: backlog:<ns>:<n>
# How often the log's rows are counted while the backlog drains: each count scans the
# table, so counting often would take PostgreSQL time from the worker being measured.
POLL_S = 0.1
TARGET = ">= 20000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark."""
    parser.add_argument("--events", type=int, default=50_000, help="domain events to log")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="only the batched side (the baseline's one INSERT per event takes minutes)",
    )


def quick(args: argparse.Namespace) -> None:
    """A smoke run."""
    args.events = 2_000


async def publish_events(deps: Deps, count: int, *, event_id: int = 1, key: str = "outbox") -> None:
    """`count` `checkin.decided` events of `event_id` onto the events stream, with message
    ids `<key>:<ns>:<n>` (the outbox's own are `outbox:…`)."""
    pending = []
    for n in range(count):
        body = {"kind": "checkin.decided", "event_id": event_id, "scan": {"n": n, "status": "ok"}}
        pending.append(
            await deps.js.publish_async(
                deps.subjects.events("checkin.decided"),
                orjson.dumps(body),
                headers={HDR_MSG_ID: f"{key}:{deps.settings.namespace}:{n}"},
            )
        )
        if len(pending) >= PUBLISH_WINDOW:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def _one_by_one(msg: Msg, ctx: WorkerContext) -> None:
    """The audit worker's way: one INSERT, so one commit, per event."""
    rows, refused = rows_of([msg])
    if refused:
        raise RuntimeError("malformed event in the benchmark's own stream")
    async with ctx.pg.acquire() as conn:
        await insert_rows(conn, rows)


async def _drain(deps: Deps, count: int, side: str, timeout_s: float) -> tuple[float, float]:
    """Events/s of one side draining the stream into an empty event log, and the µs of
    this process's CPU each event cost (steadier than the rate on a shared machine)."""
    durable = deps.subjects.durable(f"bench-{side}")
    await deps.js.add_consumer(
        deps.subjects.events_stream,
        ConsumerConfig(
            durable_name=durable,
            filter_subject=deps.subjects.events(">"),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=30.0,
            max_deliver=-1,
        ),
    )
    ctx = WorkerContext(deps, Metrics())
    stop = asyncio.Event()
    started, cpu = time.perf_counter(), time.process_time()
    if side == "batched":
        task = asyncio.create_task(consume_batches(ctx, "bench", durable, write, stop))
    else:
        task = asyncio.create_task(consume(ctx, "bench", durable, _one_by_one, stop))
    try:
        async with asyncio.timeout(timeout_s):
            while True:  # the log's row count is the only sign of progress
                if await deps.pg.fetchval("SELECT count(*) FROM event_log") >= count:
                    break
                await asyncio.sleep(0.02)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        stop.set()
        await task
    return count / elapsed, cpu * 1e6 / count


def _rows(first: int, count: int) -> Rows:
    """`count` event-log rows numbered from `first`."""
    numbers = range(first, first + count)
    bodies = [
        orjson.dumps({"kind": "checkin.decided", "event_id": 1, "scan": {"n": n}}).decode()
        for n in numbers
    ]
    return (
        ["MEMORY"] * count,
        [n + 1 for n in numbers],
        [f"memory:{n}" for n in numbers],
        ["checkin.decided"] * count,
        [1] * count,
        bodies,
        [datetime.now(UTC)] * count,
    )


async def from_memory(deps: Deps, count: int, per_statement: int) -> float:
    """Events/s writing `count` rows, `per_statement` per INSERT, from one connection."""
    chunks = [
        _rows(first, min(per_statement, count - first)) for first in range(0, count, per_statement)
    ]
    started = time.perf_counter()
    async with deps.pg.acquire() as conn:
        for chunk in chunks:
            await insert_rows(conn, chunk)
    return count / (time.perf_counter() - started)


async def publish_backlog(settings: Settings, count: int) -> None:
    """`count` events for a persistence worker to drain (`worker_rate`), keyed apart from
    the outbox's."""
    async with open_deps(settings, "bench-eventlog") as deps:
        await publish_events(deps, count, key=BACKLOG_KEY)


async def worker_rate(settings: Settings, count: int, timeout_s: float) -> dict[str, Any]:
    """Events/s of the running persistence worker over the backlog, then PostgreSQL alone
    writing as many rows from memory.

    Also the rows per transaction (`per_commit`). Timed by the worker's own
    transactions (`recorded_at` is each one's start), not by polling: from its first
    transaction's start to its last's, the rows of all but the last, so a backlog
    logged between two polls is still measured."""
    pattern = f"{BACKLOG_KEY}:%"
    async with open_deps(settings, "bench-eventlog") as deps:
        async with asyncio.timeout(timeout_s):  # the log has no event to wait on
            while True:
                logged = await deps.pg.fetchval(
                    "SELECT count(*) FROM event_log WHERE msg_id LIKE $1", pattern
                )
                if logged >= count:
                    break
                await asyncio.sleep(POLL_S)
        commits = await deps.pg.fetch(
            """SELECT recorded_at AS at, count(*) AS n FROM event_log WHERE msg_id LIKE $1
               GROUP BY recorded_at ORDER BY recorded_at""",
            pattern,
        )
        span = (commits[-1]["at"] - commits[0]["at"]).total_seconds()
        worker = (count - commits[-1]["n"]) / span if span > 0 else None
        memory = await from_memory(deps, count, BATCH)
    # Rows per transaction: BATCH while the stream keeps up; far fewer when the server hands
    # messages over a few at a time (seen while other processes flooded the disk).
    return {"worker_per_s": worker, "memory_per_s": memory, "per_commit": count / len(commits)}


async def _measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with open_deps(settings, "bench-eventlog") as deps:
        await publish_events(deps, args.events)
        sides = ("batched",) if args.no_baseline else ("batched", "baseline")
        for side in sides:
            rate, cpu_us = await _drain(deps, args.events, side, args.timeout)
            logged = await deps.pg.fetch(
                "SELECT count(*) AS n, count(DISTINCT msg_id) AS ids FROM event_log"
            )
            results[side] = {
                "stream_per_s": rate,
                "cpu_us_per_event": cpu_us,
                "logged": logged[0]["n"],
                "distinct": logged[0]["ids"],
            }
            await deps.pg.execute("TRUNCATE event_log")
        for side, per_statement in (("batched", BATCH), ("baseline", 1))[: len(sides)]:
            results[side]["memory_per_s"] = await from_memory(deps, args.events, per_statement)
            await deps.pg.execute("TRUNCATE event_log")
    return results


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table."""
    with tempfile.TemporaryDirectory(prefix="bilten-bench-") as tmp, Infra(Path(tmp)) as infra:
        settings = infra.settings(log_level="WARNING")
        # On uvloop, as `bilten worker` runs (deploy/cli.py).
        results = uvloop.run(_measure(settings, args))
    b, s = results["batched"], results.get("baseline", {})
    print(
        f"\neventlog: {args.events:,} domain events from the events stream into event_log; "
        f"batched: {BATCH} a fetch, one INSERT each; baseline: one INSERT per event"
    )
    print(ratio_header(label_width=36, target_width=10))
    rows = (
        ("events/s, stream to event_log", "stream_per_s", TARGET),
        ("consumer CPU per event (µs)", "cpu_us_per_event", ""),
        ("events/s, PostgreSQL only", "memory_per_s", ""),
        ("events logged", "logged", f"= {args.events}"),
        ("distinct message ids logged", "distinct", f"= {args.events}"),
    )
    for label, key, target in rows:
        print(ratio_row(label, b[key], s.get(key), target, label_width=36, target_width=10))
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(results))
    exact = all(r["logged"] == r["distinct"] == args.events for r in results.values())
    return 0 if exact else 1
