"""The dashboard benchmark runs end to end (`--quick`): every scan and vote on the last
dashboard, in the analytics and in PostgreSQL, every stream event logged once, every
figure measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.helpers import SMOKE_TIMEOUT_S, run_quick
from tests.conftest import ServerURLs


@pytest.mark.timeout(SMOKE_TIMEOUT_S)
def test_dashboard_benchmark_quick_run(servers: ServerURLs, tmp_path: Path) -> None:
    done, report = run_quick(servers, "dashboard", tmp_path)
    assert "| dashboard freshness p99 (ms)" in done.stdout, done.stdout
    storm, log, rate = report["storm"], report["log"], report["rate"]
    assert storm["errors"] == {"scan": 0, "hold": 0, "vote": 0}, storm
    assert storm["scans"] == storm["dashboard_scans"] == log["scans_in_pg"] == 200, storm
    assert storm["votes"] == storm["dashboard_voters"] == log["voters_in_pg"] == 200, storm
    assert storm["never_shown"] == 0 and storm["fresh_p99_ms"] > 0, storm
    assert storm["analytics_scans"] == 200 and storm["analytics_p99_ms"] > 0, storm
    assert log["logged"] == log["distinct"] == log["stream_events"] > 200, log
    assert log["lag_p99_ms"] is not None, log
    assert rate["worker_per_s"] > 0 and rate["memory_per_s"] > 0, rate
