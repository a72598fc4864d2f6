"""The event-log benchmark runs end to end (`--quick`) and logs every event exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.helpers import SMOKE_TIMEOUT_S, run_quick
from tests.conftest import ServerURLs


@pytest.mark.timeout(SMOKE_TIMEOUT_S)
def test_eventlog_quick_run_logs_each_event_once(servers: ServerURLs, tmp_path: Path) -> None:
    done, report = run_quick(servers, "eventlog", tmp_path)
    assert "| events/s, stream to event_log" in done.stdout, done.stdout
    assert set(report) == {"batched", "baseline"}
    for side, numbers in report.items():
        assert numbers["logged"] == numbers["distinct"] == 2_000, (side, numbers)
        assert numbers["stream_per_s"] > 0 and numbers["memory_per_s"] > 0, (side, numbers)
