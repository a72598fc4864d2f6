"""Workers and hubs are ready when they answer: probes for tests that start them.

Starting a worker (in this process or as a subprocess) takes a moment that
grows without bound on a busy machine, so tests do not sleep after starting
one: they send a malformed request to every subject the worker serves until
each is answered (`bad_request`, nothing done). For worker processes started
with `--metrics-port`, `processes_answer` also waits until each process itself
has answered one, so a test that kills one knows it was serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence

import aiohttp
import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from bilten.infra.settings import Settings, settings_env
from bilten.protocol.commands import COMMANDS
from bilten.protocol.subjects import Subjects
from bilten.workers.main import run_workers
from tests.waiting import WAIT_S, arrives, wait_for

PROBE = b"{}"  # not a command request: every worker answers bad_request and does nothing


def probed_subjects(settings: Settings, names: Sequence[str]) -> list[str]:
    """Every request subject the named workers serve."""
    subjects = Subjects(settings.namespace)
    found = [subjects.command(c.method) for c in COMMANDS.values() if c.worker in names]
    if "allocation" in names:
        found.append(subjects.snapshot("event.probe.seats"))  # refused by name: no work
    return found


async def _answered(nc: nats.NATS, subject: str) -> bool:
    try:
        await nc.request(subject, PROBE, timeout=WAIT_S)
    except (NoRespondersError, NatsTimeout):
        return False
    return True


async def workers_answer(
    settings: Settings, names: Sequence[str], running: asyncio.Task[None] | None = None
) -> None:
    """Until every subject of the named workers is answered; fails early if `running` ends."""
    assert settings.nats_url
    nc = await nats.connect(settings.nats_url)
    try:
        for subject in probed_subjects(settings, names):

            async def answered(subject: str = subject) -> bool:
                if running is not None and running.done():
                    running.result()
                    raise RuntimeError("the workers stopped before they were ready")
                return await _answered(nc, subject)

            await wait_for(answered, what=f"a worker answering {subject}")
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def workers_running(settings: Settings, names: Sequence[str]) -> AsyncIterator[None]:
    """The named workers in this process, answering, for the block; stopped after it."""
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_workers(settings, names, stop))
    try:
        await workers_answer(settings, names, running=task)
        yield
    finally:
        stop.set()
        await arrives(task, what="the in-process workers to stop")


async def _metrics(http: aiohttp.ClientSession, port: int) -> str:
    with contextlib.suppress(aiohttp.ClientError):
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            return await resp.text()
    return ""


async def processes_answer(settings: Settings, worker: str, ports: Sequence[int]) -> None:
    """Until each worker process (metrics on `ports`) has answered a probe itself."""
    assert settings.nats_url
    await workers_answer(settings, [worker])
    [subject, *_] = probed_subjects(settings, [worker])
    answered = f'bilten_worker_messages_total{{outcome="bad_request",worker="{worker}"}}'
    nc = await nats.connect(settings.nats_url)
    try:
        async with aiohttp.ClientSession() as http:

            async def each_answered() -> bool:
                await _answered(nc, subject)  # the queue group picks one process at random
                texts = [await _metrics(http, port) for port in ports]
                return all(answered in text for text in texts)

            await wait_for(each_answered, what=f"each {worker} process answering a request")
    finally:
        await nc.close()


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (for a worker's or hub's own listener)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(settings: Settings, command: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bilten.deploy.cli", *command],
        env={**os.environ, **settings_env(settings)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def spawn_worker(settings: Settings, worker: str, metrics_port: int) -> subprocess.Popen[bytes]:
    """`bilten worker WORKER` as a process of its own (for SIGKILL tests), metrics on a port."""
    return _spawn(settings, ["worker", worker, "--metrics-port", str(metrics_port)])


def spawn_hub(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    """`bilten hub ARGS` as a process of its own (uvloop, its own signal handling), on
    `settings.port`: for tests that signal it."""
    return _spawn(settings, ["hub", *args])


async def hub_answers(hub: subprocess.Popen[bytes], url: str) -> None:
    """Until the hub process answers `url` (its /healthz or /readyz) with 200; fails if it exits."""
    async with aiohttp.ClientSession() as http:

        async def answered() -> bool:
            assert hub.poll() is None, f"the hub exited with {hub.returncode}"
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(url) as resp:
                    return resp.status == 200
            return False

        await wait_for(answered, what=f"the hub process answering {url}")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a spawned worker: SIGTERM and its orderly shutdown, SIGKILL if that hangs."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(WAIT_S)
