"""The live view draws the running figures: connections, rates, p99s and errors."""

from __future__ import annotations

import io
import time

from rich.console import Console

from bilten.clients.sim_plan import DayConfig, plan_day
from bilten.clients.sim_stats import DayStats
from bilten.clients.sim_view import render


def test_the_table_shows_rates_p99s_and_errors() -> None:
    stats = DayStats()
    stats.start()
    for _ in range(3):
        stats.connected()
    stats.disconnected()
    for ms in (10, 20, 300):
        stats.answered("verdict", time.perf_counter_ns() - ms * 1_000_000)
        stats.tick("scans")
    stats.failed("timeout")
    out = io.StringIO()
    Console(file=out, width=100).print(render(plan_day(DayConfig(attendees=5)), stats))
    text = out.getvalue()
    assert "peak 3" in text
    assert "verdict p99" in text and "300." in text  # the slowest of three is the p99
    assert "scans/s" in text and "timeout 1" in text
