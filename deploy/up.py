"""`bilten up`: the whole stack in one command.

Starts whichever of NATS, PostgreSQL and Redis has no URL (embedded, data in
BILTEN_DATA_DIR), and a mail server keeping messages for the development
mailbox page when BILTEN_SMTP_URL is not set (deploy/embedded_mail.py);
applies migrations, declares streams, runs the hubs (`--hubs N`, sharing the
port) and every worker (`--workers M` processes of each) as child processes,
waits for /readyz (which needs every command's worker to answer), prints the
URLs and `ready`, and keeps `up.json` in the data directory up to date for
`bilten status` (deploy/up_state.py). With `--nats-cluster 3` NATS is three
supervised nodes instead (deploy/embedded_nats_cluster.py). From then on a
crashed child is restarted (deploy/supervisor.py). One stack per data
directory: `up.lock` there is held while it runs. The first SIGINT/SIGTERM
shuts down in order (hubs and workers drain, then NATS nodes and the embedded
servers stop); a second one kills everything at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from bilten.deploy import demo
from bilten.deploy.embedded import EmbeddedStack
from bilten.deploy.embedded_mail import EmbeddedMail
from bilten.deploy.secret import resolve_secret
from bilten.deploy.simulate_args import Simulation, organizer_token
from bilten.deploy.supervisor import Child, kill, supervise, terminate
from bilten.deploy.up_processes import (
    Member,
    Scale,
    check_hub_port,
    start_apps,
    start_nats_cluster,
)
from bilten.deploy.up_state import ProcessState, StackState, remove_state, write_state
from bilten.infra.bootstrap import prepare
from bilten.infra.file_lock import try_lock
from bilten.infra.settings import Settings, SettingsError
from bilten.protocol.errors import BiltenError

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 6.0
LOCK_FILE = "up.lock"


@contextmanager
def data_dir_lock(data_dir: Path, hub_url: str) -> Iterator[None]:
    """Hold `<data_dir>/up.lock` while the stack runs; refuse a second stack on the same data.

    A second NATS on the live JetStream store, or a second postmaster, would
    fail half-way or worse; the lock is checked before anything starts. It is
    an flock, so a crashed `bilten up` leaves nothing that blocks the next one.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise SettingsError(
            "BILTEN_DATA_DIR", f"cannot use {data_dir.absolute()}: {error.strerror}"
        ) from None
    try:
        if not try_lock(fd):
            holder = _lock_holder(fd)
            raise SettingsError(
                "BILTEN_DATA_DIR",
                (
                    f"a stack is already running on {data_dir.absolute()} (hub "
                    f"{holder.get('hub', '?')}, pid {holder.get('pid', '?')}); stop it, or give "
                    "this one another data directory"
                ),
            )
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "hub": hub_url}).encode())
        yield
    finally:
        os.close(fd)


def _lock_holder(fd: int) -> dict[str, object]:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:  # written by a stack that was still starting
        return {}
    return holder if isinstance(holder, dict) else {}


def bilten_command() -> str:
    """How to run `bilten` from any shell: the script next to this interpreter, by path.

    Only `.venv/bin` holds the script, and it is rarely on the PATH, so
    printed commands name it absolutely (or the interpreter with `-m`).
    """
    script = Path(sys.executable).parent / "bilten"
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m bilten.deploy.cli"


async def _wait_ready(url: str, children: list[Child]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            for child in children:
                if child.exited() is not None:
                    raise RuntimeError(f"{child.name} exited with {child.process.returncode}")
            try:
                async with http.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(2)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"hub not ready after {READY_TIMEOUT_S:.0f}s")


async def _run_stack(
    settings: Settings,
    stack: EmbeddedStack,
    mail: EmbeddedMail,
    members: list[Member],
    stop: asyncio.Event,
    demo_event: bool,
    scale: Scale,
    simulation: Simulation | None,
) -> int:
    if scale.nats_cluster:
        settings = await start_nats_cluster(settings, scale.nats_cluster, members)
    elif not settings.nats_url:
        settings = settings.replace(nats_url=await asyncio.to_thread(stack.start_nats))
    if not settings.database_url:
        settings = settings.replace(database_url=await asyncio.to_thread(stack.start_postgres))
    if not settings.redis_url:
        settings = settings.replace(redis_url=await asyncio.to_thread(stack.start_redis))
    if not settings.smtp_url:
        await asyncio.to_thread(mail.start)
        settings = settings.replace(smtp_url=mail.smtp_url)
    # A development stack: webhooks may reach receivers on this machine, over plain HTTP
    # (docs/webhooks.md §Settings); `bilten worker` keeps refusing both unless told.
    settings = resolve_secret(settings).replace(webhook_allow_http=True, webhook_allow_private=True)
    await prepare(settings)
    base = f"http://{settings.host}:{settings.port}"
    members.extend(start_apps(settings, scale))

    def record() -> None:
        write_state(
            settings.data_dir,
            StackState(
                pid=os.getpid(),
                hub=base,
                nats_url=settings.nats_url or "",
                namespace=settings.namespace,
                processes=tuple(
                    ProcessState(m.child.name, m.role, m.child.process.pid, m.url, m.child.restarts)
                    for m in members
                ),
            ),
        )

    record()
    await _wait_ready(base, [m.child for m in members])
    lines = [
        f"hub        {base}",
        f"websocket  {base.replace('http', 'ws', 1)}/ws",
        f"readiness  {base}/readyz",
        f"metrics    {base}/metrics",
    ]
    for m in members:
        if m.role == "nats":
            lines.append(f"{m.child.name:10} {m.url} (embedded, monitoring)")
        elif m.url != base:
            lines.append(f"{m.child.name:10} {m.url}/metrics")
    lines.append(f"openapi    {base}/api/v1/openapi.json")
    for server in stack.servers():
        lines.append(f"{server.name:10} {server.url} (embedded)")
    if mail.mailbox_url:
        lines.append(f"smtp       {mail.smtp_url} (embedded)")
        lines.append(f"mailbox    {mail.mailbox_url} (every message sent, with clickable links)")
    if demo_event:
        lines.extend(await demo.create(settings, base, bilten_command()))
    print("\n".join(lines), flush=True)
    print("ready", flush=True)
    day = None
    if simulation is not None:
        day = asyncio.create_task(_simulate(settings, base, simulation))
    try:
        await supervise([m.child for m in members], stop, record)
    finally:
        if day is not None:
            day.cancel()
            await asyncio.wait([day])
    return 0


async def _simulate(settings: Settings, base: str, simulation: Simulation) -> None:
    """`--simulate`: the day against the demo stack, its summary printed after `ready`.
    The stack stays up whatever the day shows, for a look at the dashboard."""
    from bilten.deploy.simulate_cli import simulate

    secret = settings.require_secret()
    try:
        _code, lines = await simulate(
            base,
            organizer_token(secret, demo.DEMO_ORG),
            simulation.config,
            simulation.report_dir or settings.data_dir,
            secret=secret,
            org=demo.DEMO_ORG,
        )
    except BiltenError as error:
        log.error("the simulation failed: %s", error)
        print(f"simulation failed: {error.message}", flush=True)
        return
    print("\n".join(lines), flush=True)


def main(
    settings: Settings, *, demo: bool, scale: Scale, simulation: Simulation | None = None
) -> int:
    """Run the stack until interrupted; returns the process exit code."""
    if scale.nats_cluster and settings.nats_url:
        raise SettingsError("--nats-cluster", "starts NATS embedded; BILTEN_NATS_URL is set")
    with data_dir_lock(settings.data_dir, f"http://{settings.host}:{settings.port}"):
        check_hub_port(settings)
        return _main(settings, demo, scale, simulation)


def _main(settings: Settings, demo: bool, scale: Scale, simulation: Simulation | None) -> int:
    stack = EmbeddedStack(settings.data_dir)
    mail = EmbeddedMail()  # loopback only, whatever the hub's host: it shows sign-in links
    members: list[Member] = []
    signals_seen = 0

    def force() -> None:
        kill([m.child for m in members])
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
        task = asyncio.create_task(
            _run_stack(settings, stack, mail, members, stop, demo, scale, simulation)
        )
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
        # The orderly stop goes on outside the event loop: Ctrl-C again still forces it.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda _sig, _frame: force())
        # Hubs and workers drain while NATS still runs; its nodes stop last.
        terminate([m.child for m in members if m.role != "nats"], DRAIN_TIMEOUT_S)
        terminate([m.child for m in members if m.role == "nats"], DRAIN_TIMEOUT_S)
        remove_state(settings.data_dir)
        mail.stop()
        stack.stop()
    log.info("stopped")
    return code
