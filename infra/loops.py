"""`every`: run one step of a background loop forever, surviving faults.

All background loops (outbox publisher and relay, hold sweeper, seats feed,
the hub's sweep) share this shape: do a step, wait, repeat until the stop
event. A step that fails must never end the loop, let alone the process:
every worker runs in one process, so one dead loop would stop them all. A
failed step is retried with capped exponential backoff, and an outage is
logged once (a warning when it starts, an info when it ends), not per
attempt. Unexpected exceptions (bugs) are logged with their traceback, also
once per outage. CancelledError is never caught: cancelling still ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bilten.infra.faults import translate

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF_S = 2.0
FIRST_BACKOFF_S = 0.05


class Outage:
    """Whether a loop is failing, and how long to wait before its next attempt.

    Logs the first failure of an outage as a warning and the first success
    after it as an info, so a long outage is two log lines, not thousands.
    """

    def __init__(self, name: str, *, max_backoff_s: float = MAX_BACKOFF_S) -> None:
        self.name = name
        self.max_backoff_s = max_backoff_s
        self.failures = 0

    def failed(self, error: Exception) -> float:
        """Record a failed attempt; returns the backoff before the next one."""
        if self.failures == 0:
            fault = translate(error)
            if fault is None:
                log.exception(
                    "%s failed unexpectedly",
                    self.name,
                    exc_info=error,
                    extra={"ctx": {"loop": self.name}},
                )
            else:
                log.warning(
                    "%s failing (%s: %s); retrying until it recovers",
                    self.name,
                    fault.code,
                    error,
                    extra={"ctx": {"loop": self.name}},
                )
        self.failures += 1
        return min(self.max_backoff_s, FIRST_BACKOFF_S * 2.0 ** (self.failures - 1))

    def succeeded(self) -> None:
        """Record a successful attempt, ending the outage if there was one."""
        if self.failures:
            log.info(
                "%s recovered after %d failed attempts",
                self.name,
                self.failures,
                extra={"ctx": {"loop": self.name}},
            )
            self.failures = 0


async def every(
    interval_s: float,
    job: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
    *,
    name: str,
    wake: asyncio.Event | None = None,
    max_backoff_s: float = MAX_BACKOFF_S,
) -> None:
    """Run `job` every `interval_s` (or sooner when `wake` is set) until `stop`.

    A failing `job` is retried after a backoff (the longer of it and
    `interval_s`), doubling up to `max_backoff_s`.
    """
    outage = Outage(name, max_backoff_s=max_backoff_s)
    while not stop.is_set():
        if wake is not None:
            wake.clear()
        try:
            await job()
        except Exception as error:
            delay = max(interval_s, outage.failed(error))
            await _wait(stop, None, delay)
            continue
        outage.succeeded()
        await _wait(stop, wake, interval_s)


async def _wait(stop: asyncio.Event, wake: asyncio.Event | None, timeout: float) -> None:
    """Until `stop` or `wake` is set, or `timeout` has passed."""
    events = [stop] if wake is None else [stop, wake]
    if any(event.is_set() for event in events):
        return
    loop = asyncio.get_running_loop()
    waiters = [loop.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def attempt(job: Callable[[], Awaitable[object]], *, name: str) -> None:
    """Run `job` once, for a last try while stopping: a failure is logged, not raised."""
    try:
        await job()
    except Exception as error:
        Outage(name).failed(error)


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None when `stop` is set first (`work` is then cancelled).

    A consumer's long poll waits up to a second for a message; shutting down
    must not wait it out. Work that finished as `stop` was set still counts.
    """
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()
