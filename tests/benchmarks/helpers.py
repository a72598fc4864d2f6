"""Running a benchmark in `--quick` mode against the test session's servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ServerURLs

ROOT = Path(__file__).resolve().parents[2]
# A quick run's own deadline (`--timeout`): it bounds a hang, and grows with a busy machine's
# worst case rather than a quiet one's typical run. Smoke tests mark themselves with
# `pytest.mark.timeout(SMOKE_TIMEOUT_S)`, above it.
QUICK_TIMEOUT_S = 300
SMOKE_TIMEOUT_S = QUICK_TIMEOUT_S + 120


def run_quick(
    servers: ServerURLs, name: str, tmp_path: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run `python -m benchmarks NAME --quick`; its output and its JSON report."""
    results = tmp_path / f"{name}.json"
    env = {
        **os.environ,
        "BILTEN_BENCH_NATS_URL": servers.nats,
        "BILTEN_BENCH_DATABASE_URL": servers.database,
        "BILTEN_BENCH_REDIS_URL": servers.redis,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            name,
            "--quick",
            *extra,
            "--timeout",
            str(QUICK_TIMEOUT_S),
            "--json",
            str(results),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_S + 60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads(results.read_text())
