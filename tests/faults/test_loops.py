"""infra/loops.every: a failing step never ends the loop; an outage is logged once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bilten.infra.loops import every


class Step:
    """A loop step that fails as scripted and signals when it has run `target` times."""

    def __init__(self, outcomes: list[BaseException | None], target: int) -> None:
        self.outcomes = outcomes
        self.calls = 0
        self.target = target
        self.reached = asyncio.Event()

    async def __call__(self) -> None:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if self.calls >= self.target:
            self.reached.set()
        if outcome is not None:
            raise outcome


async def test_survives_faults_and_bugs_and_logs_each_outage_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bilten.infra.loops")
    stop = asyncio.Event()
    outcomes: list[BaseException | None] = [ConnectionRefusedError(111, "refused")] * 4
    outcomes += [None] * 3 + [KeyError("bug")] * 2 + [None]
    step = Step(outcomes, len(outcomes) + 2)
    task = asyncio.get_running_loop().create_task(every(0.001, step, stop, name="test loop"))
    await asyncio.wait_for(step.reached.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 5)
    records = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in records] == ["WARNING", "INFO", "ERROR", "INFO"], records
    assert "unavailable" in records[0][1]
    assert "recovered after 4 failed attempts" in records[1][1]
    assert caplog.records[2].exc_info is not None  # a bug keeps its traceback


async def test_stops_promptly_even_while_backing_off() -> None:
    stop = asyncio.Event()
    step = Step([ConnectionResetError(104, "reset")], 1)
    task = asyncio.get_running_loop().create_task(
        every(0.01, step, stop, name="failing loop", max_backoff_s=3600)
    )
    await asyncio.wait_for(step.reached.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_cancellation_is_not_swallowed() -> None:
    stop = asyncio.Event()
    started = asyncio.Event()

    async def step() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.get_running_loop().create_task(every(0.01, step, stop, name="stuck loop"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_wake_runs_the_step_before_the_interval() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    step = Step([None], 1)
    task = asyncio.get_running_loop().create_task(
        every(3600, step, stop, name="woken loop", wake=wake)
    )
    await asyncio.wait_for(step.reached.wait(), 5)
    step.reached.clear()
    step.target = 2
    wake.set()
    await asyncio.wait_for(step.reached.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
