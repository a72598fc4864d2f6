"""NATS and PostgreSQL outages under load: no process exits, no 500, nothing lost or doubled.

`bilten worker all` runs as a real subprocess and a hub in this process; a
steady stream of scans (`checkin.scan`), holds (`seats.hold`) and publishes
(`channels.publish`, each with its own idempotency key) goes through REST
while this module's own NATS is killed (SIGKILL, SIGTERM) or frozen
(SIGSTOP, then SIGCONT), or its PostgreSQL is stopped and started again.

Each scenario waits on conditions, never on time: traffic flows, the outage
shows in the answers, the server returns, traffic flows again. Then: the
worker process is still running, every failed answer was `unavailable` or
`timeout`, every acknowledged scan and hold is in the database and every
acknowledged publication in the stream at the offset it was given, and
publishes retried with their key were stored exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bilten.deploy.embedded import EmbeddedStack, ServerName
from bilten.hub.app import create_app
from bilten.infra.settings import Settings, settings_env
from tests.faults.traffic import (
    DEADLINE_S,
    assert_failures_retryable,
    check_nothing_lost_or_doubled,
    retry_until_answered,
    setup_traffic,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(100)]


def _spawn_workers(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_env(settings)}
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "bilten.deploy.cli", "worker", "all"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def _pid(stack: EmbeddedStack, name: ServerName) -> int:
    return next(server.pid for server in stack.servers() if server.name == name)


async def _until_exited(stack: EmbeddedStack, name: ServerName) -> None:
    for _ in range(int(DEADLINE_S / 0.05)):  # a process's exit has no event to wait on
        if all(server.name != name for server in stack.servers()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} did not exit")


def kill_and_restart(name: ServerName, sig: signal.Signals) -> Outage:
    """An outage: `sig` to the server, then (once it has exited) start it on its port."""

    async def fault(stack: EmbeddedStack) -> None:
        os.kill(_pid(stack, name), sig)
        await _until_exited(stack, name)

    async def restore(stack: EmbeddedStack) -> None:
        await asyncio.to_thread(stack.start_one, name)

    return fault, restore


def _family(pid: int) -> list[int]:
    """`pid` and its children (PostgreSQL's backends, each in a session of its own)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid
            ):
                children.append(int(entry.name))
        except OSError:  # exited meanwhile
            continue
    return [pid, *children]


def freeze_and_thaw(name: ServerName) -> Outage:
    """An outage: SIGSTOP (the server hangs, connections stay open), then SIGCONT.

    The server and its children: a PostgreSQL backend serves its connection alone.
    """
    frozen: list[int] = []

    async def fault(stack: EmbeddedStack) -> None:
        frozen.extend(_family(_pid(stack, name)))
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)

    async def restore(stack: EmbeddedStack) -> None:
        while frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(frozen.pop(), signal.SIGCONT)

    return fault, restore


def stop_and_start(name: ServerName) -> Outage:
    """An outage: the server's own orderly stop, then a start on the same port."""

    async def fault(stack: EmbeddedStack) -> None:
        await asyncio.to_thread(stack.stop_one, name)

    async def restore(stack: EmbeddedStack) -> None:
        await asyncio.to_thread(stack.start_one, name)

    return fault, restore


Step = Callable[[EmbeddedStack], Awaitable[None]]
Outage = tuple[Step, Step]

SCENARIOS: dict[str, tuple[Outage, tuple[str, ...]]] = {
    # scenario: (the outage, the kinds of request that need the missing server)
    "nats-sigkill": (kill_and_restart("nats", signal.SIGKILL), ("scan", "hold", "publish")),
    "nats-sigstop": (freeze_and_thaw("nats"), ("scan", "hold", "publish")),
    "nats-sigterm": (kill_and_restart("nats", signal.SIGTERM), ("scan", "hold", "publish")),
    "postgres-stop": (stop_and_start("postgres"), ("scan", "hold")),
    "postgres-sigstop": (freeze_and_thaw("postgres"), ("scan", "hold")),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_an_outage_is_an_error_code_never_a_dead_process(
    scenario: str,
    stack: EmbeddedStack,
    migrated: Settings,
    aiohttp_server: Any,
    aiohttp_client: Any,
    make_token: Any,
    tmp_path: Path,
) -> None:
    (fault, restore), affected = SCENARIOS[scenario]
    # History keeps every publication, so the check below can read all of them back.
    settings = migrated.replace(request_timeout_s=3.0, history_size=1_000_000)
    worker_log = tmp_path / "worker.log"
    workers = _spawn_workers(settings, worker_log)
    loaders: list[asyncio.Task[None]] = []
    restored = True
    try:
        client = await aiohttp_client(await aiohttp_server(create_app(settings)))
        traffic = await setup_traffic(client, make_token, retry=False)
        loaders = traffic.start()
        await traffic.until(traffic.flows("before"), "traffic flows")

        restored = False
        traffic.phase = "outage"
        await fault(stack)
        await traffic.until(
            lambda: all(traffic.count(k, "outage", ok=False) >= 1 for k in affected),
            "the outage shows",
        )
        await restore(stack)
        restored = True
        traffic.phase = "after"
        await traffic.until(traffic.flows("after"), "service resumes")
        traffic.running = False
        await asyncio.gather(*loaders)

        assert workers.poll() is None, "the worker process exited"
        failed = assert_failures_retryable(traffic)
        assert failed, "the outage never showed in an answer"
        # Publishes that failed are retried with their key until they are stored.
        for answer in failed:
            if answer.kind == "publish":
                await retry_until_answered(traffic, answer)
        await check_nothing_lost_or_doubled(settings, traffic)
        worker_output = await asyncio.to_thread(worker_log.read_text)
        assert "command failed" not in worker_output, "a worker answered internal"
        await _until_loops_recovered(worker_log)
    finally:
        for task in loaders:
            task.cancel()
        await asyncio.gather(*loaders, return_exceptions=True)
        if not restored:
            await restore(stack)
        workers.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(workers.wait, 30)
        except subprocess.TimeoutExpired:
            workers.kill()
            workers.wait()


BACKGROUND = re.compile(
    r" bilten\.infra\.loops: (outbox publisher|outbox relay|seats feed|"
    r"hold sweeper|worker \S+ consuming \S+) (failing|recovered)"
)


async def _until_loops_recovered(worker_log: Path) -> None:
    """Every background loop that logged an outage's start logs its end, once each."""
    for _ in range(int(DEADLINE_S / 0.1)):  # the log file has no event to wait on
        text = await asyncio.to_thread(worker_log.read_text)
        seen = Counter(match.groups() for match in BACKGROUND.finditer(text))
        loops = {name for name, _ in seen}
        if all(seen[name, "failing"] == seen[name, "recovered"] for name in loops):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"background loops did not all recover: {seen}")
