"""Ticket allocation: holds under contention and steady buying, checked for overselling.

Two phases, each through the hub (REST, one token per buyer) to `--allocation-workers`
allocation worker processes, measured twice in the same run: with batched holds
(`seats.hold` decides every request that queued meanwhile in one transaction,
workers/hold_batch.py) and, as the baseline, the same workers with batching off
(`BILTEN_BATCH_MAX=1`: every hold its own transaction). The workers are started
afresh for each measurement, each on a venue of its own:

- **contention**: `--buyers` (2,000) buyers at once on a `--seats` (500) seat
  map plus a general-admission type (quota `--seats` / 2): each asks once, for
  1-4 chosen seats weighted to the front, 2-4 best available side by side, or
  1-3 GA places, and confirms half of what it gets;
- **steady**: `--concurrency` (64) buyers keep buying on a 50,000-seat map for
  `--seconds`: best available, or chosen seats, confirming half.

Afterwards PostgreSQL is checked against every answer: the oversell count (a
seat in two live holds or orders, a seat's database state disagreeing with
the answers, GA places beyond the quota, tickets not matching sales) must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from benchmarks.infra import Infra, call, create_event, free_port, token
from benchmarks.procs import Children, wait_http_ok
from benchmarks.report import ratio_header, ratio_row
from benchmarks.stats import percentile
from bilten.infra.settings import settings_env
from bilten.protocol.commands import COMMANDS

NAME = "allocation"
SUMMARY = "holds/s and hold latency, batched against one transaction per hold; oversell count"
ORG = "bench"
Buy = Callable[[int, dict[str, Any]], Awaitable[dict[str, Any]]]
Confirm = Callable[[int, int], Awaitable[None]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark."""
    parser.add_argument("--buyers", type=int, default=2000, help="contention: buyers at once")
    parser.add_argument("--seats", type=int, default=500, help="contention: seats on sale")
    parser.add_argument("--stadium", type=int, default=50_000, help="steady: seats on the map")
    parser.add_argument("--concurrency", type=int, default=64, help="steady: buyers at once")
    parser.add_argument("--seconds", type=float, default=10.0, help="steady: phase length")
    parser.add_argument("--allocation-workers", type=int, default=2)
    parser.add_argument(
        "--phases", default="contention,steady", help="comma-separated: contention, steady"
    )
    parser.add_argument("--logs", metavar="DIR", help="keep the hub's and workers' logs here")


def quick(args: argparse.Namespace) -> None:
    """A smoke run."""
    args.buyers, args.seats, args.stadium, args.concurrency, args.seconds = 200, 100, 5000, 16, 2


async def _venue(http: aiohttp.ClientSession, base: str, seats: int, ga: int) -> dict[str, Any]:
    """An event with a seated type (rows of 50) and a GA type; returns ids."""
    event_id = await create_event(http, base)
    types = [
        (await call(http, "POST", f"{base}/api/v1/events/{event_id}/ticket-types", body))["id"]
        for body in (
            {"name": "Seat", "price_minor": 4500},
            {"name": "GA", "price_minor": 2000, "quota": ga},
        )
    ]
    rows = [
        {"name": str(r + 1), "seats": min(50, seats - 50 * r)} for r in range((seats + 49) // 50)
    ]
    sections = [
        {"name": f"S{k}", "ticket_type_id": types[0], "rows": rows[k : k + 40]}
        for k in range(0, len(rows), 40)
    ]
    await call(http, "POST", f"{base}/api/v1/events/{event_id}/seats", {"sections": sections})
    seat_map = await call(http, "GET", f"{base}/api/v1/events/{event_id}/seats")
    ids = [
        first + k
        for s in seat_map["sections"]
        for r in s["rows"]
        for first, count in r["ids"]
        for k in range(count)
    ]
    return {"event_id": event_id, "seat_type": types[0], "ga_type": types[1], "seat_ids": ids}


def _ask(rng: random.Random, venue: dict[str, Any], front: int) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.5:
        pool = venue["seat_ids"][:front]
        return {"seat_ids": rng.sample(pool, rng.randint(1, min(4, len(pool))))}
    if roll < 0.8 or not venue.get("ga_type"):
        return {"ticket_type_id": venue["seat_type"], "quantity": rng.randint(2, 4)}
    return {"ticket_type_id": venue["ga_type"], "quantity": rng.randint(1, 3)}


async def _contention(
    buy: Buy, confirm: Confirm, venue: dict[str, Any], buyers: int
) -> dict[str, Any]:
    answers: list[dict[str, Any]] = []
    latencies: list[int] = []
    gate = asyncio.Event()

    async def buyer(n: int) -> None:
        rng = random.Random(n)
        ask = _ask(rng, venue, max(4, len(venue["seat_ids"]) // 5))
        await gate.wait()
        started = time.perf_counter_ns()
        answer = await buy(n, ask)
        latencies.append(time.perf_counter_ns() - started)
        answers.append(answer)
        if answer.get("status") == "held" and rng.random() < 0.5:
            await confirm(n, answer["hold_id"])

    tasks = [asyncio.ensure_future(buyer(n)) for n in range(buyers)]
    await asyncio.sleep(0.1)
    began = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    return _summary(answers, latencies, time.perf_counter() - began)


async def _steady(
    buy: Buy, confirm: Confirm, venue: dict[str, Any], concurrency: int, seconds: float
) -> dict[str, Any]:
    answers: list[dict[str, Any]] = []
    latencies: list[int] = []
    stop_at = time.monotonic() + seconds

    async def buyer(n: int) -> None:
        rng = random.Random(10_000 + n)
        k = 0
        while time.monotonic() < stop_at:
            k += 1
            started = time.perf_counter_ns()
            answer = await buy(n * 100_000 + k, _ask(rng, venue, len(venue["seat_ids"])))
            latencies.append(time.perf_counter_ns() - started)
            answers.append(answer)
            if answer.get("status") == "held" and rng.random() < 0.5:
                await confirm(n * 100_000 + k, answer["hold_id"])

    began = time.perf_counter()
    await asyncio.gather(*(buyer(n) for n in range(concurrency)))
    return _summary(answers, latencies, time.perf_counter() - began)


async def _phase(
    buy: Buy, confirm: Confirm, venue: dict[str, Any], phase: str, args: argparse.Namespace
) -> dict[str, Any]:
    if phase == "contention":
        return await _contention(buy, confirm, venue, args.buyers)
    return await _steady(buy, confirm, venue, args.concurrency, args.seconds)


def _summary(answers: list[dict[str, Any]], latencies: list[int], elapsed: float) -> dict[str, Any]:
    latencies.sort()
    outcomes = Counter(a.get("reason") or a.get("status") or "error" for a in answers)
    return {
        "requests": len(answers),
        "held": outcomes["held"],
        "outcomes": dict(outcomes),
        "holds_per_s": outcomes["held"] / elapsed,
        "requests_per_s": len(answers) / elapsed,
        "p50_ms": percentile(latencies, 0.50) / 1e6,
        "p99_ms": percentile(latencies, 0.99) / 1e6,
        "errors": outcomes["error"],
        "answers": answers,
    }


async def _through_hub(
    base: str, secret: str, venue: dict[str, Any], phase: str, args: argparse.Namespace
) -> dict[str, Any]:
    event_id = venue["event_id"]

    def auth(n: int) -> dict[str, str]:
        return {
            "Authorization": "Bearer "
            + token(secret, "attendee", sub=f"buyer-{n}", org=ORG, events=(event_id,))
        }

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def buy(n: int, ask: dict[str, Any]) -> dict[str, Any]:
            try:
                async with http.post(
                    f"{base}/api/v1/events/{event_id}/holds", json=ask, headers=auth(n)
                ) as resp:
                    body: dict[str, Any] = await resp.json()
                    return body if resp.status == 200 else {"status": "error", **body}
            except (aiohttp.ClientError, TimeoutError) as error:
                return {"status": "error", "error": str(error)}

        async def confirm(n: int, hold_id: int) -> None:
            async with http.post(f"{base}/api/v1/holds/{hold_id}/confirm", headers=auth(n)) as resp:
                await resp.read()

        return await _phase(buy, confirm, venue, phase, args)


async def _oversold(
    database_url: str, venue: dict[str, Any], answers: list[dict[str, Any]], ga_quota: int | None
) -> int:
    """Every way the database could disagree with the answers, counted; must be 0."""
    held = [a for a in answers if a.get("status") == "held"]
    taken = Counter(s for a in held for s in a["seat_ids"])
    conn = await asyncpg.connect(database_url)
    try:
        seats = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, status, hold_id FROM seats WHERE event_id = $1", venue["event_id"]
            )
        }
        ga = await conn.fetchrow(
            "SELECT held, sold, quota FROM ga_counters WHERE ticket_type_id = $1",
            venue.get("ga_type"),
        )
        sold = await conn.fetchval(
            "SELECT count(*) FROM seats WHERE event_id = $1 AND status = 'sold'", venue["event_id"]
        )
        tickets = await conn.fetchval(
            "SELECT count(*) FROM tickets WHERE event_id = $1 AND ticket_type_id = $2",
            venue["event_id"],
            venue["seat_type"],
        )
    finally:
        await conn.close()
    owners = {s: a["hold_id"] for a in held for s in a["seat_ids"]}
    bad: int = sum(n - 1 for n in taken.values() if n > 1)
    bad += sum(
        1
        for s, row in seats.items()
        if (row["status"] == "available") != (s not in taken)
        or (s in owners and row["hold_id"] != owners[s])
    )
    bad += abs(tickets - sold)
    if ga is not None:
        places = sum(a["quantity"] for a in held if a["ticket_type_id"] == venue["ga_type"])
        bad += abs(ga["held"] + ga["sold"] - places) + max(0, places - (ga_quota or places))
    return bad


SIDES = (("batched", None), ("baseline", 1))
"""Each measurement's BILTEN_BATCH_MAX: the settings' default, then batching off."""


def _row(label: str, batched: float | None, base: float | None, target: str = "") -> str:
    return ratio_row(label, batched, base, target, label_width=36, target_width=10)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table."""
    with (
        tempfile.TemporaryDirectory(prefix="bilten-bench-") as tmp,
        Infra(Path(tmp)) as infra,
        Children(Path(args.logs or tmp)) as children,
    ):
        port = free_port()
        settings = infra.settings(port=port, log_level="WARNING", request_timeout_s=15.0)
        env = {**os.environ, **settings_env(settings)}
        # /readyz wants a worker for every command; allocation's come and go per phase.
        for name in sorted({c.worker for c in COMMANDS.values() if c.worker} - {"allocation"}):
            children.spawn(
                name, [sys.executable, "-m", "bilten.deploy.cli", "worker", name], env, None
            )
        hub = children.spawn("hub", [sys.executable, "-m", "bilten.deploy.cli", "hub"], env, None)
        base = f"http://127.0.0.1:{port}"
        organizer = token(infra.secret, "organizer", sub="bench-org", org=ORG, events="*")

        async def setup(seats: int, ga: int) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {organizer}"}
            async with aiohttp.ClientSession(headers=headers) as http:
                return await _venue(http, base, seats, ga)

        results: dict[str, dict[str, Any]] = {}
        phases = [
            p
            for p in (("contention", args.seats), ("steady", args.stadium))
            if p[0] in args.phases.split(",")
        ]
        quota = max(1, args.seats // 2)
        for phase, seats in phases:
            for side, batch_max in SIDES:
                # Fresh workers for each measurement: none inherits the other's warm state.
                side_env = dict(env)
                if batch_max is not None:
                    side_env["BILTEN_BATCH_MAX"] = str(batch_max)
                workers = [
                    children.spawn(
                        f"allocation-{phase}-{side}{n}",
                        [sys.executable, "-m", "bilten.deploy.cli", "worker", "allocation"],
                        side_env,
                        None,
                    )
                    for n in range(args.allocation_workers)
                ]
                wait_http_ok(f"{base}/readyz", hub, 60)
                venue = asyncio.run(setup(seats, quota))
                if phase == "steady":
                    venue["ga_type"] = None
                result = asyncio.run(_through_hub(base, infra.secret, venue, phase, args))
                result["oversold"] = asyncio.run(
                    _oversold(infra.database_url, venue, result.pop("answers"), quota)
                )
                results[f"{phase}/{side}"] = result
                for worker in workers:
                    children.stop(worker)
    print(
        f"\nallocation: contention = {args.buyers} buyers at once on {args.seats} seats + "
        f"{quota} GA places; steady = {args.concurrency} buyers for "
        f"{args.seconds:g} s on {args.stadium:,} seats; {args.allocation_workers} allocation "
        "workers, restarted for each measurement; baseline: BILTEN_BATCH_MAX=1 (a transaction"
        " per hold)"
    )
    print(ratio_header(label_width=36, target_width=10))
    targets = {
        ("contention", "p99_ms"): "<= 0.25x",
        ("steady", "holds_per_s"): ">= 4x",
    }
    for phase, _ in phases:
        h, b = results[f"{phase}/batched"], results[f"{phase}/baseline"]
        for label, key in (
            ("holds granted/s", "holds_per_s"),
            ("hold answers/s", "requests_per_s"),
            ("hold p50 (ms)", "p50_ms"),
            ("hold p99 (ms)", "p99_ms"),
            ("errors", "errors"),
            ("oversold (in PostgreSQL)", "oversold"),
        ):
            target = targets.get((phase, key), "0" if key in ("errors", "oversold") else "")
            print(_row(f"{phase}: {label}", h[key], b[key], target))
    for key, result in results.items():
        print(f"  {key}: {result['outcomes']}")
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(results))
    return 1 if any(r["oversold"] or r["errors"] for r in results.values()) else 0
