"""Door check-in: scans through the hub (WebSocket rpc and REST) under load, batched or not.

N tickets, K concurrent scanners, with duplicate entries and exits mixed in.
Phases: a fixed rate (default 200 scans/s) and as fast as the scanners go.
The same hub and check-in workers run them twice, each time on an event of
its own: first as the baseline, with batching off (`BILTEN_BATCH_MAX=1`: one
transaction per scan), then, the workers restarted, with batching on (scans
that queue while a transaction commits are decided in one, issue 10; goals:
≥ 4× the scans/s flat out, ≤ 0.5× the verdict p99 at 200/s). Afterwards the
scans table is checked: for every ticket, `ok` entries and exits alternate
(never two entries without an exit between) and the inside count equals
entries minus exits.
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

from benchmarks.infra import Infra, call, create_event, free_port, issue_codes, token
from benchmarks.procs import Child, Children, http, wait_http_ok
from benchmarks.report import ratio_header, ratio_row
from benchmarks.stats import percentile
from bilten.infra.settings import settings_env
from bilten.protocol.commands import COMMANDS

NAME = "checkin"
SUMMARY = "scans/s and verdict latency through the hub, batched against one scan per transaction"
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
        codes = await issue_codes(http, url, kind["id"], tickets)
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


def _spawn_checkin(
    children: Children, env: dict[str, str], count: int, batch_max: int
) -> list[tuple[Child, int]]:
    """`count` check-in worker processes deciding up to `batch_max` scans per transaction,
    each with the port of its /metrics."""
    started = []
    for n in range(count):
        port = free_port()
        argv = [sys.executable, "-m", "bilten.deploy.cli", "worker", "checkin"]
        child = children.spawn(
            f"checkin-batch{batch_max}-{n}",
            [*argv, "--metrics-port", str(port)],
            {**env, "BILTEN_BATCH_MAX": str(batch_max)},
            None,
        )
        started.append((child, port))
    return started


def _worker_means(ports: list[int]) -> dict[str, float | None]:
    """Over the check-in workers' lives: scans per transaction (`bilten_worker_batch_size`)
    and ms from a scan's arrival at a worker to its answer (`bilten_worker_handle_seconds`)."""
    sums: dict[str, float] = {}
    for port in ports:
        status, body = http("GET", f"http://127.0.0.1:{port}/metrics")
        if status != 200:
            return {"batch": None, "worker_ms": None}
        for line in body.decode().splitlines():
            name, _, value = line.partition("{")
            if name in _SUMMED:
                sums[name] = sums.get(name, 0.0) + float(value.rsplit(" ", 1)[1])
    batches = sums.get("bilten_worker_batch_size_count")
    handled = sums.get("bilten_worker_handle_seconds_count")
    return {
        "batch": sums["bilten_worker_batch_size_sum"] / batches if batches else None,
        "worker_ms": 1000 * sums["bilten_worker_handle_seconds_sum"] / handled if handled else None,
    }


_SUMMED = {
    "bilten_worker_batch_size_sum",
    "bilten_worker_batch_size_count",
    "bilten_worker_handle_seconds_sum",
    "bilten_worker_handle_seconds_count",
}


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
        # Not measured, but /readyz waits for every command's worker.
        for name in sorted({c.worker for c in COMMANDS.values() if c.worker} - {"checkin"}):
            children.spawn(
                name, [sys.executable, "-m", "bilten.deploy.cli", "worker", name], env, None
            )
        checkin = _spawn_checkin(children, env, args.checkin_workers, batch_max=1)
        hub = children.spawn("hub", [sys.executable, "-m", "bilten.deploy.cli", "hub"], env, None)
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/readyz", hub, 60)
        organizer = token(infra.secret, "organizer", sub="bench-org", org=ORG, events="*")
        events = [asyncio.run(_setup(base, organizer, args.tickets)) for _ in range(2)]
        results, means = [], []
        for n, (event_id, codes) in enumerate(events):
            if n:  # the batched phase: the same workers, restarted with batching on
                for child, _port in checkin:
                    children.stop(child)
                checkin = _spawn_checkin(children, env, args.checkin_workers, settings.batch_max)
                wait_http_ok(f"{base}/readyz", hub, 60)
            staff = token(infra.secret, "staff", sub="bench-door", org=ORG, events=(event_id,))
            results.append(asyncio.run(_through_hub(base, staff, event_id, codes, args)))
            means.append(_worker_means([port for _child, port in checkin]))
        checks = asyncio.run(_verify(infra.database_url, [event_id for event_id, _ in events]))
    f, h = results
    print(
        f"\ncheck-in: {args.tickets} tickets, {args.scanners} scanners (half WebSocket, half "
        f"REST), {args.checkin_workers} check-in workers, phases of {args.seconds:g} s; "
        f"batched: up to {settings.batch_max} scans per transaction; "
        "baseline: the same workers with BILTEN_BATCH_MAX=1"
    )
    print(ratio_header(label_width=34, target_width=14))
    print(_row(f"scans/s @ {args.rate:g}/s offered", h["fixed"]["per_s"], f["fixed"]["per_s"]))
    print(_row("verdict p50 @ fixed rate (ms)", h["fixed"]["p50_ms"], f["fixed"]["p50_ms"]))
    print(
        _row("verdict p99 @ fixed rate (ms)", h["fixed"]["p99_ms"], f["fixed"]["p99_ms"], "<= 0.5x")
    )
    print(_row("scans/s flat out", h["max"]["per_s"], f["max"]["per_s"], ">= 4x"))
    print(_row("verdict p50 flat out (ms)", h["max"]["p50_ms"], f["max"]["p50_ms"]))
    print(_row("verdict p99 flat out (ms)", h["max"]["p99_ms"], f["max"]["p99_ms"]))
    print(_row("scans per transaction (mean)", means[1]["batch"], means[0]["batch"]))
    print(_row("worker time per verdict (mean ms)", means[1]["worker_ms"], means[0]["worker_ms"]))
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
        Path(args.json).write_bytes(
            orjson.dumps({"hub": h, "baseline": f, "checks": checks, "workers": means})
        )
    failed = sum(r[phase]["errors"] for r in results for phase in ("fixed", "max"))
    return 1 if checks["double_entries"] or checks["inside_mismatch"] or failed else 0
