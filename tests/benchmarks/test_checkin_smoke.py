"""The check-in benchmark runs end to end (`--quick`): no failed scan, no double entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerURLs

ROOT = Path(__file__).resolve().parents[2]


def test_checkin_quick_run_admits_each_ticket_once(servers: ServerURLs, tmp_path: Path) -> None:
    results = tmp_path / "checkin.json"
    env = {**os.environ, "BILTEN_BENCH_NATS_URL": servers.nats,
           "BILTEN_BENCH_DATABASE_URL": servers.database,
           "BILTEN_BENCH_REDIS_URL": servers.redis}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "checkin", "--quick", "--timeout", "90",
         "--json", str(results)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| verdict p99 @ fixed rate (ms)" in done.stdout, done.stdout
    report = json.loads(results.read_text())
    assert report["checks"]["double_entries"] == 0
    assert report["checks"]["inside_mismatch"] == 0
    assert report["checks"]["ok_scans"] > 0
    for phase in ("fixed", "max"):
        assert report["hub"][phase]["scans"] > 0 and report["hub"][phase]["errors"] == 0
