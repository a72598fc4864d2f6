"""Door check-in: scans through the hub (WebSocket rpc and REST) under load.

N tickets, K concurrent scanners, with duplicate entries and exits mixed in.
Phases: a fixed rate (default 200 scans/s: the target is a verdict p99 under
50 ms with the whole stack running) and as fast as the scanners go. The
baseline, measured in the same run, is the floor: the same decision
(`workers.checkin_scan.apply_scan`, one PostgreSQL transaction) called directly,
without hub, NATS or worker hop (its outbox rows are left for the relay).
Afterwards the scans table is checked: for every ticket, `ok` entries and
exits alternate (never two entries without an exit between) and the inside
count equals entries minus exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from benchmarks.infra import Infra, call, create_event, free_port, token
from benchmarks.procs import Children, wait_http_ok
from benchmarks.report import ratio_row
from benchmarks.stats import percentile
from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import settings_env
from bilten.protocol.checkin import parse_scan
from bilten.workers.checkin_scan import ScanOrigin, apply_scan
from bilten.workers.context import WorkerContext

NAME = "checkin"
SUMMARY = "scans/s and verdict latency through the hub, against the bare transaction"
ORG = "bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark."""
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--scanners", type=int, default=20, help="concurrent door devices")
    parser.add_argument("--rate", type=float, default=200.0, help="scans/s in the fixed phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--checkin-workers", type=int, default=2)


def quick(args: argparse.Namespace) -> None:
    """A smoke run."""
    args.tickets, args.scanners, args.seconds, args.rate = 200, 8, 2.0, 100.0


class Door:
    """Picks what to scan next: mostly entries, some repeats, some exits."""

    def __init__(self, codes: list[str], seed: int) -> None:
        self.codes = codes
        self.random = random.Random(seed)
        self.recent: list[str] = []

    def next(self) -> tuple[str, str]:
        roll = self.random.random()
        if self.recent and roll < 0.15:
            return self.random.choice(self.recent), "in"  # a second scan of the same ticket
        if self.recent and roll < 0.30:
            return self.random.choice(self.recent), "out"
        code = self.random.choice(self.codes)
        self.recent = [*self.recent[-50:], code]
        return code, "in"


async def _setup(base: str, organizer: str, tickets: int) -> tuple[int, list[str]]:
    headers = {"Authorization": f"Bearer {organizer}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        event_id = await create_event(http, base)
        url = f"{base}/api/v1/events/{event_id}"
        await call(http, "PUT", f"{url}/gates", {"gates": ["north", "south"]})
        kind = await call(http, "POST", f"{url}/ticket-types", {"name": "GA", "price_minor": 1000})
        codes: list[str] = []
        while len(codes) < tickets:
            issued = await call(
                http,
                "POST",
                f"{url}/tickets",
                {
                    "ticket_type_id": kind["id"],
                    "count": min(1000, tickets - len(codes)),
                    "holder": "Bench Guest",
                },
            )
            codes += [t["code"] for t in issued["tickets"]]
    return event_id, codes


async def _phase(
    scan: Any, doors: list[Door], *, rate: float | None, seconds: float
) -> dict[str, Any]:
    """Run scanners for `seconds`; at `rate` scans/s in total, or flat out."""
    latencies: list[int] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    interval = len(doors) / rate if rate else 0.0

    async def scanner(n: int, door: Door) -> None:
        nonlocal errors
        next_at = time.monotonic() + interval * n / len(doors)
        while (now := time.monotonic()) < stop_at:
            if interval:
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                next_at += interval
            code, direction = door.next()
            started = time.perf_counter_ns()
            try:
                await scan(n, code, direction)
            except (aiohttp.ClientError, TimeoutError, RuntimeError):
                errors += 1
                continue
            latencies.append(time.perf_counter_ns() - started)

    began = time.monotonic()
    await asyncio.gather(*(scanner(n, door) for n, door in enumerate(doors)))
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "scans": len(latencies),
        "per_s": len(latencies) / elapsed,
        "errors": errors,
        "p50_ms": percentile(latencies, 0.50) / 1e6 if latencies else None,
        "p99_ms": percentile(latencies, 0.99) / 1e6 if latencies else None,
    }


async def _through_hub(
    base: str, staff: str, event_id: int, codes: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Half the scanners on WebSocket rpc, half on REST."""
    headers = {"Authorization": f"Bearer {staff}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        sockets = [await http.ws_connect(f"{base}/ws") for _ in range(args.scanners // 2)]
        ids = [0] * len(sockets)

        async def scan(n: int, code: str, direction: str) -> None:
            params = {
                "event_id": event_id,
                "code": code,
                "gate": ("north", "south")[n % 2],
                "direction": direction,
            }
            if n < len(sockets):
                ids[n] += 1
                await sockets[n].send_bytes(
                    orjson.dumps(
                        {"op": "rpc", "id": ids[n], "method": "checkin.scan", "params": params}
                    )
                )
                reply = orjson.loads((await sockets[n].receive(timeout=10)).data)
                if reply.get("op") != "result":
                    raise RuntimeError(str(reply))
            else:
                async with http.post(
                    f"{base}/api/v1/events/{event_id}/checkins", json=params
                ) as resp:
                    if resp.status != 200:
                        raise RuntimeError(await resp.text())
                    await resp.read()

        doors = [Door(codes, n) for n in range(args.scanners)]
        fixed = await _phase(scan, doors, rate=args.rate, seconds=args.seconds)
        flat = await _phase(scan, doors, rate=None, seconds=args.seconds)
        for ws in sockets:
            await ws.close()
    return {"fixed": fixed, "max": flat}


async def _direct(
    settings: Any, event_id: int, codes: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """The floor: the worker's transaction called in-process, no hub or NATS."""
    async with open_deps(settings, "bench-direct", pg_max=args.scanners) as deps:
        ctx = WorkerContext(deps, Metrics())

        async def scan(n: int, code: str, direction: str) -> None:
            request = parse_scan(
                {"code": code, "gate": ("north", "south")[n % 2], "direction": direction}
            )
            await apply_scan(ctx, event_id, request, ScanOrigin(None), [])

        doors = [Door(codes, 1000 + n) for n in range(args.scanners)]
        fixed = await _phase(scan, doors, rate=args.rate, seconds=args.seconds)
        flat = await _phase(scan, doors, rate=None, seconds=args.seconds)
    return {"fixed": fixed, "max": flat}


async def _verify(database_url: str, event_ids: list[int]) -> dict[str, int]:
    """Double entries (two oks `in` without an `out` between) and inside mismatches."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT event_id, ticket_id, direction FROM scans WHERE status = 'ok'"
            " AND event_id = ANY($1) ORDER BY id",
            event_ids,
        )
        inside: dict[tuple[int, int], bool] = {}
        double = 0
        for row in rows:
            key = (row["event_id"], row["ticket_id"])
            entering = row["direction"] == "in"
            if inside.get(key, False) == entering:
                double += 1
            inside[key] = entering
        counted = await conn.fetchval(
            "SELECT COALESCE(sum(n), 0) FROM inside_counts WHERE event_id = ANY($1)", event_ids
        )
    finally:
        await conn.close()
    return {
        "double_entries": double,
        "inside_mismatch": abs(counted - sum(inside.values())),
        "ok_scans": len(rows),
    }


def _row(label: str, hub: float | None, base: float | None, target: str = "") -> str:
    return ratio_row(label, hub, base, target, label_width=34, target_width=14)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table."""
    with (
        tempfile.TemporaryDirectory(prefix="bilten-bench-") as tmp,
        Infra(Path(tmp)) as infra,
        Children(Path(tmp)) as children,
    ):
        port = free_port()
        settings = infra.settings(
            port=port, rate_limit_per_s=1e6, rate_limit_burst=1_000_000, log_level="WARNING"
        )
        env = {**os.environ, **settings_env(settings)}
        children.spawn(
            "workers", [sys.executable, "-m", "bilten.deploy.cli", "worker", "events"], env, None
        )
        children.spawn(
            "tickets", [sys.executable, "-m", "bilten.deploy.cli", "worker", "tickets"], env, None
        )
        # Not measured, but /readyz waits for every command's worker.
        children.spawn(
            "allocation",
            [sys.executable, "-m", "bilten.deploy.cli", "worker", "allocation"],
            env,
            None,
        )
        for n in range(args.checkin_workers):
            children.spawn(
                f"checkin{n}",
                [sys.executable, "-m", "bilten.deploy.cli", "worker", "checkin"],
                env,
                None,
            )
        hub = children.spawn("hub", [sys.executable, "-m", "bilten.deploy.cli", "hub"], env, None)
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/readyz", hub, 60)
        organizer = token(infra.secret, "organizer", sub="bench-org", org=ORG, events="*")
        event_id, codes = asyncio.run(_setup(base, organizer, args.tickets))
        floor_event, floor_codes = asyncio.run(_setup(base, organizer, args.tickets))
        staff = token(infra.secret, "staff", sub="bench-door", org=ORG, events=(event_id,))
        hub_result = asyncio.run(_through_hub(base, staff, event_id, codes, args))
        floor = asyncio.run(_direct(settings, floor_event, floor_codes, args))
        checks = asyncio.run(_verify(infra.database_url, [event_id, floor_event]))
    h, f = hub_result, floor
    print(
        f"\ncheck-in: {args.tickets} tickets, {args.scanners} scanners (half WebSocket, half "
        f"REST), {args.checkin_workers} check-in workers, phases of {args.seconds:g} s; "
        "baseline: the same transaction in-process"
    )
    print(
        "| metric                             |       hub |  baseline |    ratio | target"
        "         |\n|"
        + "-" * 36
        + "|"
        + "-" * 11
        + "|"
        + "-" * 11
        + "|"
        + "-" * 10
        + "|"
        + "-" * 16
        + "|"
    )
    print(_row(f"scans/s @ {args.rate:g}/s offered", h["fixed"]["per_s"], f["fixed"]["per_s"]))
    print(_row("verdict p50 @ fixed rate (ms)", h["fixed"]["p50_ms"], f["fixed"]["p50_ms"]))
    print(
        _row("verdict p99 @ fixed rate (ms)", h["fixed"]["p99_ms"], f["fixed"]["p99_ms"], "< 50 ms")
    )
    print(_row("scans/s flat out", h["max"]["per_s"], f["max"]["per_s"]))
    print(_row("verdict p50 flat out (ms)", h["max"]["p50_ms"], f["max"]["p50_ms"]))
    print(_row("verdict p99 flat out (ms)", h["max"]["p99_ms"], f["max"]["p99_ms"]))
    print(
        _row(
            "failed scans",
            h["fixed"]["errors"] + h["max"]["errors"],
            f["fixed"]["errors"] + f["max"]["errors"],
            "0",
        )
    )
    print(
        f"\nchecked in PostgreSQL: {checks['ok_scans']} ok scans, double entries "
        f"{checks['double_entries']} (must be 0), inside mismatch {checks['inside_mismatch']} "
        "(must be 0)"
    )
    if args.json:
        Path(args.json).write_bytes(orjson.dumps({"hub": h, "baseline": f, "checks": checks}))
    failed = h["fixed"]["errors"] + h["max"]["errors"]
    return 1 if checks["double_entries"] or checks["inside_mismatch"] or failed else 0
