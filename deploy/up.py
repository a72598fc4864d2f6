"""`bilten up`: the whole stack in one command.

Starts whichever of NATS, PostgreSQL and Redis has no URL (embedded, data in
BILTEN_DATA_DIR), applies migrations, declares streams, runs one hub and every
worker as child processes, waits for /readyz, prints the URLs and `ready`.
The first SIGINT/SIGTERM shuts down in order (hub and workers drain, then the
embedded servers stop); a second one kills everything at once.
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
from dataclasses import dataclass

import aiohttp

from bilten.deploy import demo
from bilten.deploy.embedded import EmbeddedStack, die_with_parent
from bilten.deploy.secret import resolve_secret
from bilten.infra.bootstrap import prepare
from bilten.infra.settings import Settings, settings_env

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 6.0


@dataclass(slots=True)
class Child:
    """A hub or worker process started by `bilten up`."""

    name: str
    process: subprocess.Popen[bytes]


def _spawn(name: str, args: list[str], settings: Settings) -> Child:
    env = {**os.environ, **settings_env(settings)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bilten.deploy.cli", *args], env=env,
        start_new_session=True, preexec_fn=die_with_parent,
    )
    return Child(name, process)


async def _wait_ready(url: str, children: list[Child]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            for child in children:
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited with {child.process.returncode}")
            try:
                async with http.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(2)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"hub not ready after {READY_TIMEOUT_S:.0f}s")


def _terminate(children: list[Child], timeout: float) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", child.name)
            child.process.kill()
            child.process.wait()


async def _supervise(settings: Settings, stack: EmbeddedStack, children: list[Child],
                     stop: asyncio.Event, demo_event: bool) -> int:
    if not settings.nats_url:
        settings = settings.replace(nats_url=await asyncio.to_thread(stack.start_nats))
    if not settings.database_url:
        settings = settings.replace(database_url=await asyncio.to_thread(stack.start_postgres))
    if not settings.redis_url:
        settings = settings.replace(redis_url=await asyncio.to_thread(stack.start_redis))
    settings = resolve_secret(settings)
    await prepare(settings)
    children.append(_spawn("workers", ["worker", "all"], settings))
    children.append(_spawn("hub", ["hub"], settings))
    base = f"http://{settings.host}:{settings.port}"
    await _wait_ready(base, children)
    lines = [f"hub        {base}", f"websocket  {base.replace('http', 'ws', 1)}/ws",
             f"readiness  {base}/readyz", f"metrics    {base}/metrics",
             f"openapi    {base}/api/v1/openapi.json"]
    for server in stack.servers():
        lines.append(f"{server.name:10} {server.url} (embedded)")
    if demo_event:
        lines.extend(await demo.create(settings, base))
    print("\n".join(lines), flush=True)
    print("ready", flush=True)
    while not stop.is_set():
        for child in children:
            if child.process.poll() is not None:
                log.error("%s exited with %s; shutting down", child.name,
                          child.process.returncode)
                return 1
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass
    return 0


def main(settings: Settings, *, demo: bool) -> int:
    """Run the stack until interrupted; returns the process exit code."""
    stack = EmbeddedStack(settings.data_dir)
    children: list[Child] = []
    signals_seen = 0

    def force() -> None:
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
        stack.kill()
        os._exit(130)

    def on_signal(stop: asyncio.Event) -> Callable[[], None]:
        def handler() -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen > 1:
                force()
            log.info("shutting down (again to force)")
            stop.set()
        return handler

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal(stop))
        task = asyncio.create_task(_supervise(settings, stack, children, stop, demo))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
        stopper.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            return 0

    try:
        code = asyncio.run(run())
    except Exception as error:
        log.error("bilten up failed: %s", error)
        code = 1
    finally:
        _terminate(children, DRAIN_TIMEOUT_S)
        stack.stop()
    log.info("stopped")
    return code
