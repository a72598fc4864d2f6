"""The restart policy of `bilten up`, as pure functions (the processes: tests/core/test_up.py)."""

from __future__ import annotations

import signal

import pytest

from bilten.deploy.supervisor import (
    BACKOFF_CAP_S,
    HEALTHY_AFTER_S,
    crashes_after_exit,
    exit_status,
    restart_delay,
)


@pytest.mark.parametrize(
    ("crashes_in_a_row", "delay"),
    [
        (1, 0.5),
        (2, 1.0),
        (3, 2.0),
        (6, 16.0),
        (7, BACKOFF_CAP_S),
        (1000, BACKOFF_CAP_S),
    ],
)
def test_restart_delay_doubles_up_to_the_cap(crashes_in_a_row: int, delay: float) -> None:
    assert restart_delay(crashes_in_a_row) == delay


@pytest.mark.parametrize(
    ("before", "ran_s", "after"),
    [
        (0, 0.1, 1),  # the first crash
        (3, 0.1, 4),  # crashing again right away: a longer wait
        (3, HEALTHY_AFTER_S - 1, 4),
        (5, HEALTHY_AFTER_S, 1),  # ran healthily for a while: start over
        (5, 86400.0, 1),
    ],
)
def test_a_healthy_run_resets_the_crash_count(before: int, ran_s: float, after: int) -> None:
    assert crashes_after_exit(before, ran_s) == after


@pytest.mark.parametrize(
    ("returncode", "status"),
    [
        (1, {"exit_code": 1, "signal": None}),
        (0, {"exit_code": 0, "signal": None}),
        (-signal.SIGKILL, {"exit_code": None, "signal": "SIGKILL"}),
        (-signal.SIGSEGV, {"exit_code": None, "signal": "SIGSEGV"}),
    ],
)
def test_exit_status_names_the_signal(returncode: int, status: dict[str, object]) -> None:
    assert exit_status(returncode) == status
