"""`bilten status` when something is away: a process that does not answer, NATS unreachable,
no stack at all (the running case: tests/deploy/test_up_scale.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from bilten.deploy.up_state import STATE_FILE, ProcessState, StackState, write_state
from tests.waiting import WAIT_S


def _closed_port() -> int:
    """A port nobody listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bilten.deploy.cli", "status"],
        env={**os.environ, "BILTEN_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )


def test_a_silent_process_is_down_and_unreachable_nats_is_said(tmp_path: Path) -> None:
    away = f"http://127.0.0.1:{_closed_port()}"
    write_state(
        tmp_path,
        StackState(
            pid=os.getpid(),  # a live process stands for the stack
            hub=away,
            nats_url=f"nats://127.0.0.1:{_closed_port()}",
            namespace="bilten",
            processes=(ProcessState("hub", "hub", 4242, away, 2),),
        ),
    )
    done = _status(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert ["hub", "hub", "4242", "down", "-", "2"] in rows, done.stdout
    assert any(row[:1] == ["nats"] and "unreachable" in row for row in rows), done.stdout


def test_no_stack_no_rows(tmp_path: Path) -> None:
    done = _status(tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("no `bilten up` is running on"), done.stdout
    assert not (tmp_path / STATE_FILE).exists()
