"""Fan-out: S subscribers on one channel, the real hub against two plain broadcasts.

One run starts (or reuses) NATS, PostgreSQL and Redis, migrates a fresh
namespace, starts the hub and the workers as separate processes with the hub
pinned to one core, creates an event, then runs the load generator, pinned to
the other core, against the hub, then against `baseline_server` (aiohttp) and
`picows_server` (picows, Cython): S connects, idle RSS per connection,
publications at two steady rates (latency and CPU), then as fast as the server
takes them (throughput). It prints a table with the ratio hub/baseline for
every number and the targets beside it.

    python -m benchmarks fanout [--subscribers 1000] [--seconds 10] [--steady-rate 20]
                                [--rate 100] [--quick]
    python -m benchmarks fanout --subscribers 5000 --connect-only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.infra import Infra, create_event, free_port, token
from benchmarks.loadgen import LoadConfig
from benchmarks.procs import Children, core_plan, py_spy, wait_http_ok
from benchmarks.report import notes, render
from bilten.infra.settings import settings_env

NAME = "fanout"
SUMMARY = "S subscribers on one channel: hub vs minimal aiohttp and picows broadcasts"
ROOT = Path(__file__).resolve().parent.parent
ORG = "bench"
READY_TIMEOUT_S = 60.0
# The baselines by their name in the results: aiohttp's broadcast, then picows's.
BASELINES = {"baseline": "benchmarks.baseline_server", "picows": "benchmarks.picows_server"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options."""
    parser.add_argument("--subscribers", type=int, default=1000, help="S (default 1000)")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="length of each publishing phase (default 10)"
    )
    parser.add_argument(
        "--steady-rate",
        type=float,
        default=20.0,
        help="publications/s in the light steady phase (default 20)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="publications/s in the heavy steady phase (default 100)",
    )
    parser.add_argument(
        "--max-messages",
        type=int,
        default=100_000,
        help="cap on publications in the throughput phase",
    )
    parser.add_argument(
        "--message-bytes",
        type=int,
        default=200,
        help="size of one delivered pub message (default 200)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=64,
        help="throughput phase: publications not yet seen by the slowest "
        "sampled subscriber (default 64)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=50,
        help="subscribers that decode every frame for latency and exact seq checks (default 50)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=100, help="connection attempts in flight (default 100)"
    )
    parser.add_argument(
        "--publish-via",
        choices=["rpc", "jetstream"],
        default="rpc",
        help="hub only: rpc channels.publish (default), or straight into "
        "JetStream to measure fan-out alone (diagnostic)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="measure the hub only")
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        help="sample the hub with py-spy (native frames too) while it is loaded, writing "
        "DIR/hub.txt as collapsed stacks (py-spy pauses the hub per sample: a diagnostic run)",
    )
    parser.add_argument(
        "--connect-only",
        action="store_true",
        help="measure the connects (rate, server CPU, idle memory) and publish nothing",
    )
    parser.add_argument(
        "--logs", metavar="DIR", help="keep the hub's, workers' and baseline's logs here"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        default=os.environ.get("BILTEN_BENCH_PROFILE"),
        help="run the hub under cProfile, writing DIR/hub.prof "
        "(BILTEN_BENCH_PROFILE; distorts the numbers)",
    )


def quick(args: argparse.Namespace) -> None:
    """Shrink a run to a smoke test: 100 subscribers, 2-second phases."""
    args.subscribers = min(args.subscribers, 100)
    args.seconds = min(args.seconds, 2.0)
    args.max_messages = min(args.max_messages, 2_000)
    args.sample = min(args.sample, 20)


def _python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


class Run:
    """One benchmark run: its deadline, servers, children and options."""

    def __init__(
        self, args: argparse.Namespace, infra: Infra, children: Children, deadline: float
    ) -> None:
        self.args = args
        self.infra = infra
        self.children = children
        self.deadline = deadline
        self.server_cpu, self.load_cpu = core_plan()

    def remaining(self) -> float:
        """Seconds left before the global timeout (raises when none are)."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("benchmark timeout reached")
        return left

    def load(
        self,
        port: int,
        pid: int,
        channel: str,
        publisher_path: str,
        subscriber_paths: list[str],
        *,
        via_jetstream: bool = False,
    ) -> dict[str, Any]:
        """Run the load generator against a server and return its result."""
        a = self.args
        cfg = LoadConfig(
            host="127.0.0.1",
            port=port,
            channel=channel,
            publisher_path=publisher_path,
            subscriber_paths=subscriber_paths,
            server_pid=pid,
            sample=a.sample,
            concurrency=a.concurrency,
            steady_rate=a.steady_rate,
            rate=a.rate,
            fixed_seconds=a.seconds,
            max_seconds=a.seconds,
            max_messages=a.max_messages,
            window=a.window,
            message_bytes=a.message_bytes,
            deadline_s=self.remaining() - 5,
            publish_via="jetstream" if via_jetstream else "rpc",
            nats_url=self.infra.urls["nats"],
            namespace=self.infra.namespace,
            connect_only=a.connect_only,
        )
        child = self.children.spawn(
            "loadgen",
            [sys.executable, "-m", "benchmarks.loadgen"],
            _python_env(),
            self.load_cpu,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        out, _ = child.process.communicate(orjson.dumps(asdict(cfg)), timeout=self.remaining())
        self.children.stop(child)
        if child.process.returncode != 0 or not out.strip():
            raise RuntimeError(f"load generator failed with {child.process.returncode}")
        result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
        return result

    def hub(self) -> dict[str, Any]:
        """Start workers and a hub, create an event, load the hub, stop it."""
        port = free_port()
        settings = self.infra.settings(
            port=port,
            rate_limit_per_s=1e6,
            rate_limit_burst=1_000_000,
            send_buffer_bytes=4 << 20,
            log_level="WARNING",
        )
        env = {**os.environ, **settings_env(settings)}
        workers = self.children.spawn(
            "workers", [sys.executable, "-m", "bilten.deploy.cli", "worker", "all"], env, None
        )
        argv = [sys.executable, "-m", "bilten.deploy.cli", "hub"]
        if self.args.profile:
            Path(self.args.profile).mkdir(parents=True, exist_ok=True)
            argv[1:1] = ["-m", "cProfile", "-o", str(Path(self.args.profile) / "hub.prof")]
        hub = self.children.spawn("hub", argv, env, self.server_cpu)
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/readyz", hub, min(READY_TIMEOUT_S, self.remaining()))
        secret = self.infra.secret
        organizer = token(secret, "organizer", sub="bench-organizer", org=ORG, events="*")
        event_id = self._create_event(base, organizer)
        channel = f"event.{event_id}.announcements"
        paths = [
            f"/ws?token={token(secret, 'attendee', sub=f'a{i}', org=ORG, events=(event_id,))}"
            for i in range(self.args.subscribers)
        ]
        print(
            f"hub: pid {hub.process.pid} on core {self.server_cpu}, {channel}",
            file=sys.stderr,
            flush=True,
        )
        spy = Path(self.args.py_spy) / "hub.txt" if self.args.py_spy else None
        try:
            with py_spy(self.children, hub.process.pid, spy):
                return self.load(
                    port,
                    hub.process.pid,
                    channel,
                    f"/ws?token={organizer}",
                    paths,
                    via_jetstream=self.args.publish_via == "jetstream",
                )
        finally:
            self.children.stop(hub)
            self.children.stop(workers)

    def _create_event(self, base: str, organizer: str) -> int:
        async def create() -> int:
            headers = {"Authorization": f"Bearer {organizer}"}
            async with aiohttp.ClientSession(headers=headers) as http:
                return await create_event(http, base, timeout=min(20.0, self.remaining()))

        return asyncio.run(create())

    def baseline(self, name: str, module: str) -> dict[str, Any]:
        """Start a baseline server (`python -m module`), load it, stop it."""
        port = free_port()
        server = self.children.spawn(
            name,
            [sys.executable, "-m", module, "--port", str(port)],
            _python_env(),
            self.server_cpu,
        )
        wait_http_ok(
            f"http://127.0.0.1:{port}/healthz", server, min(READY_TIMEOUT_S, self.remaining())
        )
        print(
            f"{name}: pid {server.process.pid} on core {self.server_cpu}",
            file=sys.stderr,
            flush=True,
        )
        try:
            return self.load(
                port,
                server.process.pid,
                "event.1.announcements",
                "/ws",
                ["/ws"] * self.args.subscribers,
            )
        finally:
            self.children.stop(server)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table; 0 when it completed."""
    deadline = time.monotonic() + args.timeout
    with tempfile.TemporaryDirectory(prefix="bilten-bench-") as tmp:
        scratch = Path(tmp)
        logs = Path(args.logs) if args.logs else scratch
        logs.mkdir(parents=True, exist_ok=True)
        with Infra(scratch) as infra, Children(logs) as children:
            bench = Run(args, infra, children, deadline)
            results: dict[str, dict[str, Any] | None] = {"hub": bench.hub()}
            for name, module in BASELINES.items():
                results[name] = None if args.no_baseline else bench.baseline(name, module)
    servers = ", ".join(
        f"{name} {'embedded' if name in infra.embedded else url}"
        for name, url in infra.urls.items()
    )
    print(
        f"\nfan-out: {args.subscribers} subscribers on one channel, "
        f"{args.message_bytes}-byte messages, phases of {args.seconds:g} s at "
        f"{args.steady_rate:g}/s, {args.rate:g}/s and flat out; server on core "
        f"{bench.server_cpu}, load generator on core {bench.load_cpu}; {servers}; hub "
        f"publications via {args.publish_via}\n"
    )
    print(render(results, args.rate, args.steady_rate, connect_only=args.connect_only))
    for note in notes(results):
        print(note)
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps(
                {"benchmark": NAME, "args": vars(args), **results},
                option=orjson.OPT_INDENT_2,
                default=str,
            )
        )
    return 0
