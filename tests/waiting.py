"""Waiting in tests: on the condition itself, with a deadline generous enough for a busy machine.

CI runs on two shared cores; any step may take many times longer than on a
quiet laptop. A test that sleeps a fixed time and then looks, or that gives a
reply five seconds, fails there for no fault of the code. So tests wait for
what they need (a reply, a publication, a row, a worker answering) and fail
only after a deadline far beyond any healthy run, with a message naming what
never came. The deadline bounds a hang; it never judges speed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")

# The deadline of one wait: a reply, a publication, a state to reach.
WAIT_S = 60.0
# For a whole storm: a base plus an allowance per operation (see `allowance`).
STORM_BASE_S = 60.0
PER_OPERATION_S = 0.5

_FIRST_POLL_S = 0.01
_MAX_POLL_S = 0.25


def allowance(
    operations: int, *, base: float = STORM_BASE_S, per_operation: float = PER_OPERATION_S
) -> float:
    """A deadline that grows with the work: `base` plus `per_operation` for each operation."""
    return base + per_operation * operations


async def wait_for(
    condition: Callable[[], T | Awaitable[T]], *, what: str, timeout: float = WAIT_S
) -> T:
    """Poll `condition` (plain or async) until it returns a truthy value, and return that.

    A condition may also raise AssertionError while not yet met: the last such
    message is part of the failure, so "never equal" can say how it differed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = _FIRST_POLL_S
    last = ""
    while True:
        try:
            value = condition()
            result = await value if inspect.isawaitable(value) else value
        except AssertionError as error:
            last = f": {error}"
        else:
            if result:
                return cast(T, result)
            last = f": last {result!r}"
        if loop.time() >= deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}{last}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_POLL_S)


async def arrives(awaitable: Awaitable[T], *, what: str, timeout: float = WAIT_S) -> T:
    """Await one thing (a message, a process exit) within the deadline, failing by name."""
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:
        raise AssertionError(f"gave up after {timeout:g} s waiting for {what}") from None
