"""A simulated event day (docs/simulate.md) through one hub and every worker as a process.

The plan of `bilten simulate` (clients/sim_plan.py) at the largest size this
machine holds in bounded time: a ticket sale's rush, arrivals at the gates,
sessions with polls, announcements to every attendee, organizers watching
the dashboard, all through SDK clients. Baseline, measured first in the same
run: the day's scans alone, on an event of their own whose tickets the box
office issued, at the same times through the same door devices, with nothing
else going on. The table gives the verdict latency under the day's load
against the scans alone, and the day's own figures: connections, messages/s,
hold, vote and fan-out (announcement publication to delivery) p99s, errors,
and the truths (the dashboard's inside and sold against the doors' and the
sale's counts, poll voters against acknowledged votes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks.infra import Infra, free_port, token
from benchmarks.procs import Children, wait_http_ok
from benchmarks.report import ratio_row
from bilten.clients.sim_driver import DayResult, Target, run_day
from bilten.clients.sim_plan import DayPlan, plan_day
from bilten.clients.sim_report import build_report, expected
from bilten.clients.sim_stats import DayStats
from bilten.deploy.simulate_args import config_from
from bilten.deploy.simulate_cli import local_minter, ws_url
from bilten.infra.settings import settings_env
from bilten.protocol.commands import COMMANDS

NAME = "eventday"
SUMMARY = "a simulated event day: connections, messages/s, verdict and fan-out p99s, truths"
ORG = "bench"
LABEL_WIDTH = 36
RESENT = {"timeout", "unavailable"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark."""
    parser.add_argument("--attendees", type=int, default=300)
    parser.add_argument("--gates", type=int, default=3)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of the day")
    parser.add_argument("--polls", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)


def quick(args: argparse.Namespace) -> None:
    """A smoke run."""
    args.attendees, args.gates, args.duration, args.polls = 40, 2, 8.0, 1


def _day(base: str, secret: str, plan: DayPlan, *, scans_only: bool) -> tuple[DayStats, DayResult]:
    organizer = token(secret, "organizer", sub="bench-org", org=ORG, events="*")
    stats = DayStats()
    target = Target(ws_url(base), organizer, local_minter(secret, ORG))
    result = asyncio.run(run_day(target, plan, stats, scans_only=scans_only))
    return stats, result


def _row(label: str, day: float | None, alone: float | None = None, target: str = "") -> str:
    return ratio_row(label, day, alone, target, label_width=LABEL_WIDTH, target_width=10)


def _table(day: dict[str, Any], alone: dict[str, Any]) -> list[str]:
    width = LABEL_WIDTH
    head = f"| {'metric':{width}} | {'day':>9} | {'alone':>9} | {'ratio':>8} | {'target':10} |"
    rule = "|" + "|".join("-" * (w + 2) for w in (width, 9, 9, 8, 10)) + "|"
    verdict, verdict_alone = day["latency_ms"]["verdict"], alone["latency_ms"]["verdict"]
    rows = [
        head,
        rule,
        _row("verdict p50 (ms)", verdict["p50"], verdict_alone["p50"]),
        _row("verdict p99 (ms)", verdict["p99"], verdict_alone["p99"]),
        _row("day's length (s)", day["seconds"], alone["seconds"]),
        _row("connections (peak)", day["connections"]["peak"], alone["connections"]["peak"]),
        _row("messages/s (sent + received)", day["messages"]["per_s"], alone["messages"]["per_s"]),
    ]
    for kind in ("hold", "confirm", "vote", "fanout"):
        figures = day["latency_ms"][kind]
        rows.append(_row(f"{kind} p99 (ms)", figures["p99"]))
    rows.append(_row("errors", sum(day["errors"].values()), sum(alone["errors"].values())))
    return rows


def run(args: argparse.Namespace) -> int:
    """Run the scans alone, then the day; print the table."""
    config = config_from(args)  # the same flags as `bilten simulate`
    plan = plan_day(config)
    with (
        tempfile.TemporaryDirectory(prefix="bilten-bench-") as tmp,
        Infra(Path(tmp)) as infra,
        Children(Path(tmp)) as children,
    ):
        port = free_port()
        settings = infra.settings(port=port, log_level="WARNING")
        env = {**os.environ, **settings_env(settings)}
        names = {c.worker for c in COMMANDS.values() if c.worker} | {"metrics"}
        for name in sorted(names):
            argv = [sys.executable, "-m", "bilten.deploy.cli", "worker", name]
            children.spawn(name, argv, env, None)
        hub = children.spawn("hub", [sys.executable, "-m", "bilten.deploy.cli", "hub"], env, None)
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/readyz", hub, 60)
        alone = build_report(plan, *_day(base, infra.secret, plan, scans_only=True))
        day = build_report(plan, *_day(base, infra.secret, plan, scans_only=False))
    print(
        f"\nevent day: {config.attendees} attendees, {config.gates} gates, {config.polls} "
        f"polls, {config.duration_s:g} s, one hub, every worker a process; alone: the same "
        "scans with nothing else going on"
    )
    print("\n".join(_table(day, alone)))
    for name, report in (("day", day), ("alone", alone)):
        print(f"{name}: errors {report['errors'] or 'none'}; outcomes {report['outcomes']}")
        for truth in report["truths"]:
            state = "holds" if truth["holds"] else "MISMATCH"
            print(f"  truth: {truth['name']}: {truth['observed']} of {expected(truth)} ({state})")
    if args.json:
        Path(args.json).write_bytes(orjson.dumps({"day": day, "alone": alone}))
    # Timeouts are figures of a loaded stack (the commands are resent until answered); any
    # other error, or a truth that does not hold, is a fault.
    faults = (set(day["errors"]) | set(alone["errors"])) - RESENT
    return 0 if day["ok"] and alone["ok"] and not faults else 1
