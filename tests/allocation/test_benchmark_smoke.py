"""The allocation benchmark runs end to end (`--quick`) and oversells nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.helpers import SMOKE_TIMEOUT_S, run_quick
from tests.conftest import ServerURLs


@pytest.mark.timeout(SMOKE_TIMEOUT_S)
def test_allocation_benchmark_quick_run(servers: ServerURLs, tmp_path: Path) -> None:
    _, report = run_quick(servers, "allocation", tmp_path)
    assert set(report) == {
        "contention/batched",
        "contention/baseline",
        "steady/batched",
        "steady/baseline",
    }
    for phase, numbers in report.items():
        assert numbers["oversold"] == 0 and numbers["errors"] == 0, (phase, numbers)
        assert numbers["held"] > 0, (phase, numbers)
