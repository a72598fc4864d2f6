"""The event-day benchmark runs end to end (`--quick`): both runs' truths hold, no errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.helpers import SMOKE_TIMEOUT_S, run_quick
from tests.conftest import ServerURLs


@pytest.mark.timeout(SMOKE_TIMEOUT_S)
def test_eventday_quick_run(servers: ServerURLs, tmp_path: Path) -> None:
    done, report = run_quick(servers, "eventday", tmp_path)
    assert "| verdict p99 (ms)" in done.stdout, done.stdout
    day, alone = report["day"], report["alone"]
    for run in (day, alone):
        assert run["ok"] and all(t["holds"] for t in run["truths"]), run["truths"]
        assert run["errors"] == {}, run["errors"]
        assert run["outcomes"]["admitted"] == 40, run["outcomes"]
    assert day["outcomes"]["confirmed"] == 40, day["outcomes"]
    assert day["latency_ms"]["fanout"]["count"] > 0 and day["latency_ms"]["vote"]["count"] > 0
    assert alone["latency_ms"]["hold"]["count"] == 0  # the scans alone sell nothing
