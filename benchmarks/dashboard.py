"""The live dashboard under a mixed storm, and the event log beside it (issue 13).

Every worker runs as its own process (`bilten worker NAME`, the metrics and
persistence workers included) behind one hub. On one event, for `--seconds`
(20), at the fixed rates of the other benchmarks' steady phases: scans at
`--scan-rate` (200/s, the check-in benchmark's), holds of one or two seats or
GA places at `--hold-rate` (50/s, each by a buyer of its own, half confirmed),
votes at `--vote-rate` (200/s, each by a voter of its own) in one open poll,
all over REST, while an organizer watches `event.{id}.dashboard`.

- **Dashboard freshness**: for the k-th scan verdict received, the time from
  that verdict to the first dashboard publication counting at least k scans
  (the sum of `scans_per_minute`); goal p99 ≤ 1.5 s. A dashboard is published
  at most once a second (docs/insight.md §Live dashboard), which bounds p50
  from below by about half a second. No baseline: the figure has a goal of its
  own, and nothing simpler computes the same dashboard.
- **Event-log lag** during the storm: `recorded_at − occurred_at` of the storm's
  `checkin.decided` events (JetStream's store time to the persistence worker's
  commit).
- **Event-log write rate**: after the storm, the persistence worker is stopped,
  `--backlog` (50,000) domain events are stored on the events stream, and the
  worker is started again, alone (the analytics, webhooks and metrics workers,
  which consume the same stream, are stopped first: on two cores they would
  take the CPU being measured); events/s from the backlog's first row in
  `event_log` to its last (the worker's start-up left out), against the
  baseline of PostgreSQL alone: the same number of rows written from memory in
  the worker's 500-row statements (benchmarks/eventlog.py). Goal ≥ 20,000/s.
  With it, the rows per transaction: 500 while the stream hands the backlog
  over as fast as asked; far fewer when it cannot (runs taken while other
  processes flooded the disk fell to 5,000/s with ~7 rows a transaction).
- **ClickHouse ingestion lag**: for the k-th scan verdict received, the time
  from that verdict to the first answer of the stats API
  (`GET /api/v1/events/{id}/stats?metric=scans`, asked every `POLL_S`)
  counting at least k scans: the analytics worker's consumer, its ClickHouse
  (embedded chdb) insert and rollup, and the query. No baseline, and no goal
  beyond the issue's "a few seconds".

Afterwards: the last dashboard's and the analytics' scan counts and the
dashboard's vote count must equal PostgreSQL's, and the event log must hold
every stream event exactly once, or the run exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.eventlog import publish_backlog, worker_rate
from benchmarks.infra import Infra, call, create_event, free_port, issue_codes, token
from benchmarks.procs import Child, Children, wait_http_ok
from benchmarks.report import ratio_header, ratio_row
from benchmarks.stats import percentile
from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings, settings_env
from bilten.protocol.commands import COMMANDS
from bilten.workers.batch_consumer import BATCH

NAME = "dashboard"
SUMMARY = (
    "dashboard freshness and ClickHouse ingestion lag under a storm of scans, holds and "
    "votes; event-log write rate"
)
ORG = "bench"
SETTLE_S = 60.0
POLL_S = 0.2  # how often the analytics are asked for their scan count
LANES = 16  # concurrent requests of each kind


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark."""
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the storm")
    parser.add_argument("--scan-rate", type=float, default=200.0, help="scans/s")
    parser.add_argument("--hold-rate", type=float, default=50.0, help="holds/s")
    parser.add_argument("--vote-rate", type=float, default=200.0, help="votes/s")
    parser.add_argument("--backlog", type=int, default=50_000, help="events for the write rate")
    parser.add_argument("--logs", metavar="DIR", help="keep the hub's and workers' logs here")


def quick(args: argparse.Namespace) -> None:
    """A smoke run."""
    args.seconds, args.scan_rate, args.hold_rate, args.vote_rate = 4.0, 50.0, 10.0, 50.0
    args.backlog = 2_000


async def _setup(base: str, organizer: str, tickets: int, seats: int) -> dict[str, Any]:
    """An event with gates, GA tickets to scan, a seat map and GA places to hold, an open poll."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {organizer}"}) as http:
        event_id = await create_event(http, base)
        url = f"{base}/api/v1/events/{event_id}"
        await call(http, "PUT", f"{url}/gates", {"gates": ["north", "south"]})
        door = await call(http, "POST", f"{url}/ticket-types", {"name": "Door", "price_minor": 0})
        seat = await call(
            http, "POST", f"{url}/ticket-types", {"name": "Seat", "price_minor": 4500}
        )
        ga = await call(
            http, "POST", f"{url}/ticket-types", {"name": "GA", "price_minor": 2000, "quota": seats}
        )
        rows = [{"name": str(r + 1), "seats": 50} for r in range(max(1, seats // 50))]
        sections = [{"name": "S", "ticket_type_id": seat["id"], "rows": rows}]
        await call(http, "POST", f"{url}/seats", {"sections": sections})
        codes = await issue_codes(http, url, door["id"], tickets)
        session = await call(http, "POST", f"{url}/sessions", {"title": "Bench"})
        poll = await call(
            http,
            "POST",
            f"{base}/api/v1/sessions/{session['id']}/polls",
            {"question": "Which city?", "kind": "single", "options": ["Sarajevo", "Mostar"]},
        )
        await call(http, "POST", f"{base}/api/v1/polls/{poll['id']}/open")
    return {
        "event_id": event_id,
        "codes": codes,
        "seat_type": seat["id"],
        "ga_type": ga["id"],
        "poll_id": int(poll["id"]),
    }


class Screen:
    """The organizer's dashboard: when each scan count was first seen."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, int]] = []  # (time, scans counted), scans rising
        self.latest: dict[str, Any] = {}
        self.changed = asyncio.Event()

    async def run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            now = time.perf_counter()
            frames = orjson.loads(msg.data)
            for frame in frames if isinstance(frames, list) else [frames]:
                if frame.get("op") == "subscribed":
                    self._show(now, frame["snapshot"])
                elif frame.get("op") == "pub":
                    self._show(now, frame["data"])

    def _show(self, now: float, dashboard: dict[str, Any]) -> None:
        self.latest = dashboard
        self.changed.set()
        scans = sum(dashboard["scans_per_minute"])
        if not self.seen or scans > self.seen[-1][1]:
            self.seen.append((now, scans))

    async def until(self, done: Callable[[], bool]) -> None:
        """Until a dashboard makes `done` hold, or `SETTLE_S` passes (the report says)."""
        deadline = time.monotonic() + SETTLE_S
        while not done() and (left := deadline - time.monotonic()) > 0:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    def scans(self) -> int:
        return self.seen[-1][1] if self.seen else 0

    def voters(self) -> int:
        return sum(self.latest.get("polls", {}).get("voters", {}).values())

    def visible_at(self, count: int) -> float | None:
        """When a dashboard first counted at least `count` scans."""
        at = bisect_left([n for _, n in self.seen], count)
        return self.seen[at][0] if at < len(self.seen) else None


class Counts:
    """When the analytics first counted each number of the event's scans (rising)."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, int]] = []
        self.changed = asyncio.Event()

    async def run(self, http: aiohttp.ClientSession, url: str, bearer: str) -> None:
        """Ask the stats API for the event's scans every `POLL_S` until cancelled."""
        headers = {"Authorization": f"Bearer {bearer}"}
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, KeyError, IndexError):
                async with http.get(url, params={"metric": "scans"}, headers=headers) as resp:
                    body = await resp.json()
                now = time.perf_counter()
                total = int(body["series"][0]["total"])
                if not self.seen or total > self.seen[-1][1]:
                    self.seen.append((now, total))
                    self.changed.set()
            await asyncio.sleep(POLL_S)

    async def until(self, count: int) -> None:
        """Until the analytics count `count` scans, or `SETTLE_S` passes (the report says)."""
        deadline = time.monotonic() + SETTLE_S
        while self.scans() < count and (left := deadline - time.monotonic()) > 0:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    def scans(self) -> int:
        return self.seen[-1][1] if self.seen else 0

    def visible_at(self, count: int) -> float | None:
        at = bisect_left([n for _, n in self.seen], count)
        return self.seen[at][0] if at < len(self.seen) else None


def _lags(verdicts: list[float], visible_at: Callable[[int], float | None]) -> list[int]:
    """For the k-th verdict, ns until a count of at least k was first seen (sorted)."""
    return sorted(
        int((at - sent) * 1e9)
        for k, sent in enumerate(verdicts, start=1)
        if (at := visible_at(k)) is not None
    )


async def _paced(rate: float, seconds: float, act: Callable[[int], Awaitable[None]]) -> None:
    """`act(n)` for n = 0, 1, … at `rate`/s over `seconds`, from `LANES` lanes; each act is
    stamped with its scheduled time, so a server that falls behind is not given a rest."""
    total = int(rate * seconds)
    began = time.monotonic()
    counter = iter(range(total))

    async def lane() -> None:
        for n in counter:
            delay = began + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await act(n)

    await asyncio.gather(*(lane() for _ in range(LANES)))


async def _storm(base: str, secret: str, venue: dict[str, Any], args: argparse.Namespace) -> Any:
    event_id = venue["event_id"]
    screen = Screen()
    counts = Counts()
    verdicts: list[float] = []
    votes: list[int] = []
    errors: dict[str, int] = {"scan": 0, "hold": 0, "vote": 0}
    organizer = token(secret, "organizer", sub="bench-screen", org=ORG, events="*")
    staff = token(secret, "staff", sub="bench-door", org=ORG, events=(event_id,))
    rng = random.Random(13)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        ws = await http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws?token={organizer}")
        channel = f"event.{event_id}.dashboard"
        await ws.send_bytes(orjson.dumps({"op": "subscribe", "id": 1, "channel": channel}))
        watching = asyncio.ensure_future(screen.run(ws))
        stats_url = f"{base}/api/v1/events/{event_id}/stats"
        asking = asyncio.ensure_future(counts.run(http, stats_url, organizer))

        async def post(kind: str, url: str, bearer: str, body: Any) -> dict[str, Any] | None:
            headers = {"Authorization": f"Bearer {bearer}"}
            try:
                async with http.post(url, json=body, headers=headers) as resp:
                    answer: dict[str, Any] = await resp.json()
                    if resp.status in (200, 201):
                        return answer
            except (aiohttp.ClientError, TimeoutError):
                pass
            errors[kind] += 1
            return None

        async def scan(n: int) -> None:
            code = venue["codes"][n % len(venue["codes"])]
            body = {
                "code": code,
                "gate": ("north", "south")[n % 2],
                "direction": "in" if (n // len(venue["codes"])) % 2 == 0 else "out",
            }
            if await post("scan", f"{base}/api/v1/events/{event_id}/checkins", staff, body):
                verdicts.append(time.perf_counter())

        async def hold(n: int) -> None:
            buyer = token(secret, "attendee", sub=f"buyer-{n}", org=ORG, events=(event_id,))
            kind = venue["seat_type"] if rng.random() < 0.5 else venue["ga_type"]
            ask = {"ticket_type_id": kind, "quantity": rng.randint(1, 2)}
            answer = await post("hold", f"{base}/api/v1/events/{event_id}/holds", buyer, ask)
            if answer is not None and answer.get("status") == "held" and n % 2:
                await post("hold", f"{base}/api/v1/holds/{answer['hold_id']}/confirm", buyer, None)

        async def vote(n: int) -> None:
            voter = token(secret, "attendee", sub=f"voter-{n}", org=ORG, events=(event_id,))
            url = f"{base}/api/v1/polls/{venue['poll_id']}/votes"
            if await post("vote", url, voter, {"choice": n % 2}):
                votes.append(n)

        began = time.perf_counter()
        await asyncio.gather(
            _paced(args.scan_rate, args.seconds, scan),
            _paced(args.hold_rate, args.seconds, hold),
            _paced(args.vote_rate, args.seconds, vote),
        )
        elapsed = time.perf_counter() - began
        await screen.until(
            lambda: screen.scans() >= len(verdicts) and screen.voters() >= len(votes)
        )
        await counts.until(len(verdicts))
        watching.cancel()
        asking.cancel()
        await ws.close()
    verdicts.sort()
    fresh = _lags(verdicts, screen.visible_at)
    ingested = _lags(verdicts, counts.visible_at)
    return {
        "scans": len(verdicts),
        "scans_per_s": len(verdicts) / elapsed,
        "errors": errors,
        "fresh_p50_ms": percentile(fresh, 0.50) / 1e6 if fresh else None,
        "fresh_p99_ms": percentile(fresh, 0.99) / 1e6 if fresh else None,
        "fresh_max_ms": fresh[-1] / 1e6 if fresh else None,
        "never_shown": len(verdicts) - len(fresh),
        "dashboard_scans": screen.scans(),
        "analytics_p50_ms": percentile(ingested, 0.50) / 1e6 if ingested else None,
        "analytics_p99_ms": percentile(ingested, 0.99) / 1e6 if ingested else None,
        "analytics_scans": counts.scans(),
        "votes": len(votes),
        "dashboard_voters": screen.voters(),
    }


async def _event_log(settings: Settings, event_id: int) -> dict[str, Any]:
    """The storm's event-log lag and the log's exactness, from PostgreSQL and the stream,
    once the log has caught up with the stream (or `SETTLE_S` passed)."""
    async with open_deps(settings, "bench-dashboard") as deps:
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            stored = (await deps.js.stream_info(deps.subjects.events_stream)).state.messages
            if await deps.pg.fetchval("SELECT count(*) FROM event_log") >= stored:
                break
            await asyncio.sleep(0.1)
        lag = await deps.pg.fetchrow(
            """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99
               FROM (SELECT extract(epoch FROM recorded_at - occurred_at) * 1000 AS d
                     FROM event_log WHERE kind = 'checkin.decided' AND event_id = $1) AS lags""",
            event_id,
        )
        scans = await deps.pg.fetchval("SELECT count(*) FROM scans WHERE event_id = $1", event_id)
        voters = await deps.pg.fetchval("SELECT count(*) FROM poll_ballots")
        stored = (await deps.js.stream_info(deps.subjects.events_stream)).state.messages
        logged = await deps.pg.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT msg_id) AS ids FROM event_log"
        )
    return {
        "lag_p50_ms": None if lag["p50"] is None else float(lag["p50"]),
        "lag_p99_ms": None if lag["p99"] is None else float(lag["p99"]),
        "scans_in_pg": scans,
        "voters_in_pg": voters,
        "stream_events": stored,
        "logged": logged["n"],
        "distinct": logged["ids"],
    }


def _row(label: str, value: float | None, base: float | None = None, target: str = "") -> str:
    return ratio_row(label, value, base, target, label_width=38, target_width=12)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table."""
    with (
        tempfile.TemporaryDirectory(prefix="bilten-bench-") as tmp,
        Infra(Path(tmp)) as infra,
        Children(Path(args.logs or tmp)) as children,
    ):
        port = free_port()
        settings = infra.settings(
            port=port, rate_limit_per_s=1e6, rate_limit_burst=1_000_000, log_level="WARNING"
        )
        env = {**os.environ, **settings_env(settings)}

        def worker(name: str) -> Child:
            argv = [sys.executable, "-m", "bilten.deploy.cli", "worker", name]
            return children.spawn(name, argv, env, None)

        names = {c.worker for c in COMMANDS.values() if c.worker} | {"metrics", "persistence"}
        workers = {name: worker(name) for name in sorted(names)}
        hub = children.spawn("hub", [sys.executable, "-m", "bilten.deploy.cli", "hub"], env, None)
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/readyz", hub, 60)
        organizer = token(infra.secret, "organizer", sub="bench-org", org=ORG, events="*")
        tickets = max(100, int(args.scan_rate * args.seconds) // 3)
        seats = 50 * max(2, int(args.hold_rate * args.seconds) // 50)
        venue = asyncio.run(_setup(base, organizer, tickets, seats))
        storm = asyncio.run(_storm(base, infra.secret, venue, args))
        log = asyncio.run(_event_log(settings, venue["event_id"]))
        # The write rate is the persistence worker's: the other consumers of the events
        # stream (ClickHouse inserts above all) would take the same two cores from it.
        for name in ("persistence", "analytics", "webhooks", "metrics"):
            children.stop(workers[name])
        asyncio.run(publish_backlog(settings, args.backlog))
        workers["persistence"] = worker("persistence")
        rate = asyncio.run(worker_rate(settings, args.backlog, args.timeout))
    print(
        f"\ndashboard: {args.seconds:g} s of {args.scan_rate:g} scans/s, {args.hold_rate:g} "
        f"holds/s and {args.vote_rate:g} votes/s over REST, every worker a process, an "
        f"organizer watching; write rate: {args.backlog:,} events through `bilten worker "
        "persistence` (batched) against PostgreSQL alone (baseline: the same rows from memory, "
        f"{BATCH} a statement)"
    )
    print(ratio_header(label_width=38, target_width=12))
    print(_row("scans/s (verdicts received)", storm["scans_per_s"]))
    print(_row("dashboard freshness p50 (ms)", storm["fresh_p50_ms"]))
    print(_row("dashboard freshness p99 (ms)", storm["fresh_p99_ms"], None, "<= 1500"))
    print(_row("dashboard freshness max (ms)", storm["fresh_max_ms"]))
    print(_row("event-log lag p50 (ms)", log["lag_p50_ms"]))
    print(_row("event-log lag p99 (ms)", log["lag_p99_ms"]))
    print(_row("event-log events/s", rate["worker_per_s"], rate["memory_per_s"], ">= 20000"))
    print(_row("event-log rows per transaction", rate["per_commit"]))
    print(_row("ClickHouse ingestion lag p50 (ms)", storm["analytics_p50_ms"]))
    print(_row("ClickHouse ingestion lag p99 (ms)", storm["analytics_p99_ms"]))
    print(
        f"\nchecked: {storm['scans']} verdicts, {storm['dashboard_scans']} scans on the last "
        f"dashboard, {storm['analytics_scans']} in analytics, {log['scans_in_pg']} in "
        f"PostgreSQL; voters on the dashboard "
        f"{storm['dashboard_voters']}, in PostgreSQL {log['voters_in_pg']}; "
        f"event log {log['logged']} rows, {log['distinct']} message ids, "
        f"{log['stream_events']} events stored; failed requests {storm['errors']}"
    )
    if args.json:
        Path(args.json).write_bytes(orjson.dumps({"storm": storm, "log": log, "rate": rate}))
    exact = (
        storm["scans"] == storm["dashboard_scans"] == storm["analytics_scans"] == log["scans_in_pg"]
        and storm["votes"] == storm["dashboard_voters"] == log["voters_in_pg"]
        and log["logged"] == log["distinct"] == log["stream_events"]
    )
    return 0 if exact else 1
