"""The check-in benchmark runs end to end (`--quick`): no failed scan, no double entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.helpers import SMOKE_TIMEOUT_S, run_quick
from tests.conftest import ServerURLs


@pytest.mark.timeout(SMOKE_TIMEOUT_S)
def test_checkin_quick_run_admits_each_ticket_once(servers: ServerURLs, tmp_path: Path) -> None:
    done, report = run_quick(servers, "checkin", tmp_path)
    assert "| verdict p99 @ fixed rate (ms)" in done.stdout, done.stdout
    assert report["checks"]["double_entries"] == 0
    assert report["checks"]["inside_mismatch"] == 0
    assert report["checks"]["ok_scans"] > 0
    for phase in ("fixed", "max"):
        assert report["hub"][phase]["scans"] > 0 and report["hub"][phase]["errors"] == 0
