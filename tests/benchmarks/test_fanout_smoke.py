"""The fan-out benchmark runs end to end (`--quick`) and loses nothing; timings are not judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.helpers import SMOKE_TIMEOUT_S, run_quick
from tests.conftest import ServerURLs


@pytest.mark.timeout(SMOKE_TIMEOUT_S)
def test_fanout_quick_run_completes_without_loss(servers: ServerURLs, tmp_path: Path) -> None:
    done, report = run_quick(servers, "fanout", tmp_path, "--subscribers", "50")
    assert "| delivered msgs/s (max phase)" in done.stdout, done.stdout
    for server in ("hub", "baseline", "picows"):
        result = report[server]
        assert result["connect"]["subscribers"] == 50, result["connect"]
        for phase in ("warmup", "steady", "fixed", "max"):
            numbers = result[phase]
            assert numbers["acked"] > 0, (server, phase, numbers)
            assert numbers["lost"] == 0 and numbers["extra"] == 0, (server, phase, numbers)
            assert numbers["sampled_missing"] == 0, (server, phase, numbers)
            assert numbers["sampled_duplicates"] == 0, (server, phase, numbers)
            assert numbers["sampled_out_of_order"] == 0, (server, phase, numbers)
