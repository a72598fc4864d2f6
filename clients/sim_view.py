"""The live terminal view of a simulated day (`rich`): progress, rates, p99s, errors.

It only reads the `DayStats` the driver writes, four times a second, on the
same event loop; a terminal that is not one (a pipe, a log) gets no view.
"""

from __future__ import annotations

import asyncio

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bilten.clients.sim_plan import DayPlan
from bilten.clients.sim_stats import LATENCIES, SERIES, DayStats

REFRESH_S = 0.25


def render(plan: DayPlan, stats: DayStats) -> Table:
    """The figures table at this moment."""
    table = Table(title="Bilten simulated day", show_header=True, header_style="bold")
    table.add_column("figure")
    table.add_column("now", justify="right")
    table.add_column("total", justify="right")
    table.add_row("connections", str(stats.connections), f"peak {stats.peak_connections}")
    table.add_row(
        "messages/s", f"{stats.messages_per_s():,.0f}", f"{stats.sent + stats.received:,}"
    )
    for name in SERIES:
        table.add_row(f"{name}/s", str(stats.rate(name)), f"{sum(stats.series[name]):,}")
    for kind in LATENCIES:
        p99 = stats.p(kind, 0.99)
        count = len(stats.latencies_ms[kind])
        table.add_row(f"{kind} p99", "-" if p99 is None else f"{p99:,.1f} ms", f"{count:,}")
    errors = ", ".join(f"{code} {n}" for code, n in stats.errors.most_common(4)) or "none"
    table.add_row("errors", errors, str(sum(stats.errors.values())))
    return table


async def show(plan: DayPlan, stats: DayStats, console: Console) -> None:
    """Redraw until cancelled; the caller cancels it when the day is over."""
    progress = Progress(
        TextColumn("day"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn()
    )
    day = progress.add_task("day", total=plan.config.duration_s)
    with Live(console=console, auto_refresh=False, transient=False) as live:
        try:
            while True:
                progress.update(day, completed=min(stats.elapsed(), plan.config.duration_s))
                live.update(Group(progress, render(plan, stats)), refresh=True)
                await asyncio.sleep(REFRESH_S)
        finally:
            live.update(Group(progress, render(plan, stats)), refresh=True)
