"""`bilten up --demo --simulate` and `bilten simulate`: a small day through a real stack, its
truths checked and its report written (docs/simulate.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerURLs
from tests.deploy.test_up import Up, _external
from tests.waiting import allowance

ATTENDEES = 24


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bilten-sim-") as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)


def _report(directory: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((directory / "simulation.json").read_text())
    page = (directory / "simulation.html").read_text()
    assert page.count("<svg") == 2 and 'class="series"' in page and 'class="bar"' in page
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "every truth holds" in page
    return report


def _assert_day_held(report: dict[str, Any], attendees: int) -> None:
    assert report["ok"] is True, (report["truths"], report["outcomes"], report["errors"])
    assert {t["name"] for t in report["truths"] if t["holds"]} == {
        "inside on the dashboard = admitted scans",
        "sold on the dashboard = confirmed holds",
        "second scans refused as already inside",
        "poll voters = acknowledged votes",
        "quiz answers = acknowledged answers",
        "right quiz answers = acknowledged right answers",
        "questions stored = acknowledged questions",
        "questions with their acknowledged upvotes",
        "reactions on the channel = acknowledged reactions",
    }
    figures = {t["name"]: t for t in report["truths"]}
    # A busy machine may time a command out: the day sends it again (idempotent), and the
    # truths still hold; any other error is a fault.
    assert set(report["errors"]) <= {"timeout", "unavailable"}, report["errors"]
    outcomes = report["outcomes"]
    assert outcomes["confirmed"] == outcomes["admitted"] == attendees, outcomes
    assert report["dashboard"]["inside"] == attendees
    assert report["latency_ms"]["verdict"]["count"] >= attendees
    assert report["latency_ms"]["fanout"]["count"] > 0
    assert outcomes["reactions"] > 0 and outcomes["quiz_answers"] > 0, outcomes
    assert outcomes["questions"] > 0 and outcomes["upvotes"] > 0, outcomes
    assert figures["questions stored = acknowledged questions"]["observed"] > 0
    assert figures["questions with their acknowledged upvotes"]["expected"] > 0
    assert report["latency_ms"]["ask"]["count"] == outcomes["questions"]
    assert report["latency_ms"]["upvote"]["count"] == outcomes["upvotes"]
    assert report["connections"]["peak"] > attendees  # buyers, doors and organizers


def test_up_demo_simulate_then_simulate_with_an_organizer_token(
    data_dir: Path, servers: ServerURLs
) -> None:
    with _external(servers) as env:
        up = Up(
            data_dir,
            env,
            (
                "--simulate",
                *("--attendees", str(ATTENDEES), "--duration", "6", "--polls", "2"),
                *("--report-dir", str(data_dir / "up-report")),
            ),
        )
        try:
            lines = up.wait_ready()
            printed = up.read_until(
                lambda line: line.startswith("simulation:"), "simulated", allowance(4 * ATTENDEES)
            )
            assert printed[-1] == "simulation: ok", printed
            assert any(line.startswith("  truth") for line in printed)
            _assert_day_held(_report(data_dir / "up-report"), ATTENDEES)
            # Against the same stack with an organizer's token alone: the hub mints the tokens.
            organizer = next(line for line in lines if line.startswith("  organizer")).split()[-1]
            ran = subprocess.run(
                [
                    *(sys.executable, "-m", "bilten.deploy.cli", "simulate"),
                    *("--url", f"http://127.0.0.1:{up.port}", "--token", organizer),
                    *("--attendees", "10", "--duration", "4", "--seed", "3", "--no-live"),
                    *("--report-dir", str(data_dir / "cli-report")),
                ],
                env={"PATH": os.environ["PATH"], "BILTEN_DATA_DIR": str(data_dir / "none")},
                capture_output=True,
                text=True,
                timeout=allowance(40),
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
            assert ran.stdout.splitlines()[-1] == "simulation: ok", ran.stdout
            _assert_day_held(_report(data_dir / "cli-report"), 10)
            assert up.interrupt() == 0
        finally:
            up.close()


def test_simulate_needs_a_token_or_the_stacks_secret(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "bilten.deploy.cli", "simulate", "--url", "http://127.0.0.1:1"],
        env={"PATH": os.environ["PATH"], "BILTEN_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2 and "BILTEN_SECRET" in ran.stderr, ran.stderr
    assert not list(tmp_path.iterdir())  # no report, no secret made up


def test_up_simulate_needs_the_demo(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "bilten.deploy.cli", "up", "--simulate"],
        env={"PATH": os.environ["PATH"], "BILTEN_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2 and "add --demo" in ran.stderr, ran.stderr
    assert not list(tmp_path.iterdir())  # refused before anything started
