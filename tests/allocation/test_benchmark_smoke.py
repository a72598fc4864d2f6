"""The allocation benchmark runs end to end (`--quick`) and oversells nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerURLs

ROOT = Path(__file__).resolve().parents[2]


def test_allocation_benchmark_quick_run(servers: ServerURLs, tmp_path: Path) -> None:
    results = tmp_path / "allocation.json"
    env = {**os.environ, "BILTEN_BENCH_NATS_URL": servers.nats,
           "BILTEN_BENCH_DATABASE_URL": servers.database,
           "BILTEN_BENCH_REDIS_URL": servers.redis}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "allocation", "--quick",
         "--timeout", "90", "--json", str(results)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(results.read_text())
    assert set(report) == {"contention/hub", "contention/baseline", "steady/hub",
                           "steady/baseline"}
    for phase, numbers in report.items():
        assert numbers["oversold"] == 0 and numbers["errors"] == 0, (phase, numbers)
        assert numbers["held"] > 0, (phase, numbers)
