"""The engagement benchmark runs end to end (`--quick`) and counts every voter exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.helpers import SMOKE_TIMEOUT_S, run_quick
from tests.conftest import ServerURLs


@pytest.mark.timeout(SMOKE_TIMEOUT_S)
def test_engagement_benchmark_quick_run(servers: ServerURLs, tmp_path: Path) -> None:
    _, report = run_quick(servers, "engagement", tmp_path)
    assert set(report) == {"batched", "baseline"}
    for side, numbers in report.items():
        voters = numbers["distinct_voters"]
        assert numbers["stored"] == numbers["published_voters"] == voters, (side, numbers)
        assert numbers["outcomes"] == {"ok": voters, "already_voted": voters // 4}, (side, numbers)
        assert numbers["errors"] == 0, (side, numbers)
