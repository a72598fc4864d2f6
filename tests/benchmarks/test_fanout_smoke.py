"""The fan-out benchmark runs end to end (`--quick`) and loses nothing; timings are not judged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerURLs

ROOT = Path(__file__).resolve().parents[2]


def test_fanout_quick_run_completes_without_loss(servers: ServerURLs, tmp_path: Path) -> None:
    results = tmp_path / "fanout.json"
    env = {**os.environ, "BILTEN_BENCH_NATS_URL": servers.nats,
           "BILTEN_BENCH_DATABASE_URL": servers.database,
           "BILTEN_BENCH_REDIS_URL": servers.redis}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "fanout", "--quick", "--subscribers", "50",
         "--timeout", "90", "--json", str(results)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| delivered msgs/s (max phase)" in done.stdout, done.stdout
    report = json.loads(results.read_text())
    for server in ("hub", "baseline"):
        result = report[server]
        assert result["connect"]["subscribers"] == 50, result["connect"]
        for phase in ("warmup", "fixed", "max"):
            numbers = result[phase]
            assert numbers["acked"] > 0, (server, phase, numbers)
            assert numbers["lost"] == 0 and numbers["extra"] == 0, (server, phase, numbers)
            assert numbers["sampled_missing"] == 0, (server, phase, numbers)
            assert numbers["sampled_duplicates"] == 0, (server, phase, numbers)
            assert numbers["sampled_out_of_order"] == 0, (server, phase, numbers)
