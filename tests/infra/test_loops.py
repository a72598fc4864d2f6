"""`unless_stopped` (infra/loops.py): a long wait given up when its worker stops."""

from __future__ import annotations

import asyncio

import pytest

from bilten.infra.loops import unless_stopped
from tests.waiting import arrives


async def test_stopping_gives_up_a_wait_that_would_never_end() -> None:
    stop, never = asyncio.Event(), asyncio.Event()
    waiting = asyncio.ensure_future(never.wait())
    pending = asyncio.ensure_future(unless_stopped(stop, waiting))
    await asyncio.sleep(0)
    stop.set()
    assert await arrives(pending, what="the wait given up") is None
    assert waiting.cancelled()


async def test_work_done_first_keeps_its_result_even_once_stopped() -> None:
    stop = asyncio.Event()

    async def fetch() -> list[int]:
        stop.set()  # the stop arrives as the work finishes: its messages still count
        return [1, 2]

    assert await unless_stopped(stop, fetch()) == [1, 2]


async def test_a_failure_of_the_work_is_raised_not_hidden() -> None:
    async def refused() -> None:
        raise TimeoutError("idle")

    with pytest.raises(TimeoutError):
        await unless_stopped(asyncio.Event(), refused())


async def test_an_already_stopped_worker_does_not_start_waiting() -> None:
    stop = asyncio.Event()
    stop.set()
    never = asyncio.Event()
    assert await arrives(unless_stopped(stop, never.wait()), what="no wait") is None
