"""`bilten simulate` and `bilten up --demo --simulate`: an event day through a running stack.

The plan (clients/sim_plan.py) is run by SDK clients (clients/sim_driver.py)
with the live view (clients/sim_view.py) on a terminal; the report is written
as `simulation.json` and `simulation.html` (clients/sim_report.py). Tokens:
with the stack's secret at hand (BILTEN_SECRET, or the data directory of the
`bilten up` that runs it) they are minted here; with `--token` alone, an
organizer's token, the hub mints them (`tokens.create`). Exit status 1 when a
truth does not hold. docs/simulate.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rich.console import Console

from bilten.clients import sim_report, sim_view
from bilten.clients.sim_driver import Target, run_day
from bilten.clients.sim_plan import DayConfig, plan_day
from bilten.clients.sim_setup import Minter, minting_client
from bilten.clients.sim_stats import DayStats
from bilten.deploy.simulate_args import TOKEN_TTL_S
from bilten.protocol.tokens import Role, encode_token, mint_claims


def local_minter(secret: str, org: str) -> Minter:
    """Tokens signed here with the stack's secret, for `org`."""

    async def mint(role: Role, sub: str, event_id: int, gates: tuple[str, ...] | None) -> str:
        claims = mint_claims(
            sub=sub,
            org=org,
            role=role,
            events=(event_id,),
            gates=gates,
            ttl_s=TOKEN_TTL_S,
            now=time.time(),
        )
        return encode_token(claims, secret)

    return mint


def ws_url(base: str) -> str:
    """The hub's WebSocket endpoint for its HTTP base URL."""
    return base.rstrip("/").replace("http", "ws", 1) + "/ws"


@contextlib.asynccontextmanager
async def _minter(url: str, organizer: str, secret: str | None, org: str) -> AsyncIterator[Minter]:
    if secret is not None:
        yield local_minter(secret, org)
    else:
        async with minting_client(url, organizer) as mint:
            yield mint


async def simulate(
    base: str,
    organizer: str,
    config: DayConfig,
    report_dir: Path,
    *,
    secret: str | None = None,
    org: str = "demo",
    live: bool = True,
) -> tuple[int, list[str]]:
    """Run the day against the hub at `base`; the exit status and the summary lines."""
    plan = plan_day(config)
    stats = DayStats()
    url = ws_url(base)
    console = Console(file=sys.stderr)
    view = None
    if live and console.is_terminal:
        view = asyncio.get_running_loop().create_task(sim_view.show(plan, stats, console))
    try:
        async with _minter(url, organizer, secret, org) as mint:
            result = await run_day(Target(url, organizer, mint), plan, stats)
    finally:
        if view is not None:
            view.cancel()
            await asyncio.wait([view])
    report = sim_report.build_report(plan, stats, result)
    await asyncio.to_thread(_write, report_dir, report)
    return (0 if report["ok"] else 1), summary(report, report_dir)


def _write(report_dir: Path, report: dict[str, Any]) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    sim_report.write_json(report_dir / "simulation.json", report)
    sim_report.write_html(report_dir / "simulation.html", report)


def summary(report: dict[str, Any], report_dir: Path) -> list[str]:
    """The lines printed after a run: the headline figures, each truth, the report files."""
    lines = [
        f"simulation event {report['event_id']}: {report['connections']['peak']} connections, "
        f"{report['messages']['per_s']:,.0f} messages/s over {report['seconds']:g} s",
        "  p99 ms     "
        + ", ".join(f"{kind} {figures['p99']}" for kind, figures in report["latency_ms"].items()),
        f"  errors     {report['errors'] or 'none'}",
    ]
    for truth in report["truths"]:
        state = "holds" if truth["holds"] else "MISMATCH"
        lines.append(
            f"  truth      {truth['name']}: {truth['observed']} of "
            f"{sim_report.expected(truth)} ({state})"
        )
    lines.append(f"  report     {report_dir / 'simulation.html'} and simulation.json")
    lines.append("simulation: ok" if report["ok"] else "simulation: MISMATCH")
    return lines
