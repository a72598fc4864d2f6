"""The children of `bilten up`: started, restarted after a crash, stopped in order.

A hub, worker or NATS cluster node that dies while the stack runs is started again after
a delay that doubles with each crash in a row (`restart_delay`), so a child
that cannot start does not spin, and resets once it has run healthily for
`HEALTHY_AFTER_S`. Each restart is logged with the child, its exit status,
the attempt and the delay, and a new hub or worker process gets its restart
count in BILTEN_RESTART_COUNT, which it exports as
`bilten_process_restarts_total`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bilten.deploy.embedded import die_with_parent
from bilten.infra.settings import Settings, settings_env

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_CAP_S = 30.0
HEALTHY_AFTER_S = 60.0
POLL_S = 0.2


def restart_delay(crashes_in_a_row: int) -> float:
    """Seconds to wait before restart number `crashes_in_a_row` (1, 2, …) of a child."""
    return min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2.0 ** max(0, crashes_in_a_row - 1))


def crashes_after_exit(crashes_in_a_row: int, ran_s: float) -> int:
    """The count of crashes in a row once a child that ran `ran_s` seconds has exited.

    A child that ran healthily for a while starts the count over, so one crash
    a day is restarted quickly every time.
    """
    return 1 if ran_s >= HEALTHY_AFTER_S else crashes_in_a_row + 1


def exit_status(returncode: int) -> dict[str, int | str | None]:
    """An exit code, or the signal that killed the process (Popen reports it negated)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return {"exit_code": None, "signal": name}
    return {"exit_code": returncode, "signal": None}


@dataclass(slots=True)
class Child:
    """A hub, worker or NATS node process of `bilten up`, and its restart history.

    With `program` it runs that command line instead of `bilten ARGS` (an
    embedded server of the stack), its output appended to `log`.
    """

    name: str
    args: list[str]
    settings: Settings
    program: list[str] = field(default_factory=list)
    log: Path | None = None
    process: subprocess.Popen[bytes] = field(init=False)
    started: float = field(init=False)
    restarts: int = 0
    crashes_in_a_row: int = 0

    def __post_init__(self) -> None:
        self.start()

    def start(self) -> None:
        """Start (or start again) the process, with its restart count in its environment."""
        if self.program:
            assert self.log is not None
            with self.log.open("ab") as output:
                self.process = subprocess.Popen(
                    self.program,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                )
        else:
            settings = self.settings.replace(restart_count=self.restarts)
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bilten.deploy.cli", *self.args],
                env={**os.environ, **settings_env(settings)},
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.started = time.monotonic()

    def exited(self) -> int | None:
        """The return code once the current process has exited, else None."""
        return self.process.poll()


async def supervise(
    children: list[Child],
    stop: asyncio.Event,
    on_restart: Callable[[], None] = lambda: None,
) -> None:
    """Restart crashed children until `stop` is set; a restart waits out its backoff.

    `on_restart` runs after each restart (`bilten up` records the new pid).
    """
    due: dict[str, float] = {}  # child name -> monotonic time of its restart
    while not stop.is_set():
        now = time.monotonic()
        for child in children:
            returncode = child.exited()
            if returncode is None:
                continue
            if child.name not in due:
                child.crashes_in_a_row = crashes_after_exit(
                    child.crashes_in_a_row, now - child.started
                )
                delay = restart_delay(child.crashes_in_a_row)
                due[child.name] = now + delay
                log.warning(
                    "%s exited; restarting in %.1fs",
                    child.name,
                    delay,
                    extra={
                        "ctx": {
                            "child": child.name,
                            **exit_status(returncode),
                            "attempt": child.crashes_in_a_row,
                            "delay_s": delay,
                        }
                    },
                )
            elif now >= due[child.name]:
                del due[child.name]
                child.restarts += 1
                child.start()
                log.info(
                    "%s restarted (pid %d)",
                    child.name,
                    child.process.pid,
                    extra={"ctx": {"child": child.name, "restarts": child.restarts}},
                )
                on_restart()
        try:
            await asyncio.wait_for(stop.wait(), POLL_S)
        except TimeoutError:
            pass


def terminate(children: list[Child], timeout: float) -> None:
    """SIGTERM every child, wait up to `timeout` for all of them, then SIGKILL the rest."""
    for child in children:
        if child.exited() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", child.name)
            child.process.kill()
            child.process.wait()


def kill(children: list[Child]) -> None:
    """SIGKILL every child at once (a forced second Ctrl-C)."""
    for child in children:
        if child.exited() is None:
            child.process.kill()
