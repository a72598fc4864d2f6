"""The load generator process: S subscribers and one publisher against one server.

Run as `python -m benchmarks.loadgen` with a `LoadConfig` as JSON on stdin; it
prints one JSON result object on stdout (progress goes to stderr). It measures
the server's connects/s, idle RSS per connection, and three publishing phases:
two steady rates, a light one and a heavy one (latency and CPU per delivery),
and as fast as the server takes them (throughput). The
server's CPU and RSS come from /proc, sampled here at the phase boundaries.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from benchmarks.jspublisher import JetStreamPublisher
from benchmarks.loadclients import Publisher, PublishSink, Subscriber, Waker, pad_for
from benchmarks.procs import ProcStats, raise_nofile_limit
from benchmarks.stats import phase_summary
from benchmarks.wsclient import open_client

CONNECT_TIMEOUT_S = 15.0
SETTLE_S = 1.0


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Everything the load generator needs; the parent sends it as JSON."""

    host: str
    port: int
    channel: str
    publisher_path: str
    subscriber_paths: list[str]
    server_pid: int
    sample: int = 50
    concurrency: int = 100
    warmup: int = 20
    steady_rate: float = 20.0
    rate: float = 100.0
    fixed_seconds: float = 10.0
    max_seconds: float = 10.0
    max_messages: int = 100_000
    window: int = 64
    rpc_window: int = 32
    message_bytes: int = 200
    publish_via: str = "rpc"  # or "jetstream": see benchmarks/jspublisher.py
    nats_url: str = ""
    namespace: str = ""
    drain_s: float = 15.0
    deadline_s: float = 300.0
    connect_only: bool = False  # measure the connects and idle memory, publish nothing


def log(text: str) -> None:
    """Progress for the person watching."""
    print(f"  [loadgen] {text}", file=sys.stderr, flush=True)


def sample_indices(total: int, count: int) -> set[int]:
    """`count` indices spread evenly over `total`, always including the last one."""
    if total <= 0 or count <= 0:
        return set()
    if count >= total:
        return set(range(total))
    return (
        {round(i * (total - 1) / (count - 1)) for i in range(count)} if count > 1 else {total - 1}
    )


class LoadRun:
    """One run: connects, then phases; every result goes into `result`."""

    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.proc = ProcStats(cfg.server_pid)
        self.me = ProcStats(os.getpid())
        self.waker = Waker()
        self.subs: list[Subscriber] = []
        self.sampled: list[Subscriber] = []
        self.pub: PublishSink | None = None
        self.result: dict[str, Any] = {
            "config": {k: v for k, v in asdict(cfg).items() if k != "subscriber_paths"}
        }

    async def run(self) -> dict[str, Any]:
        """Connect everything, run the phases, close; returns the result."""
        cfg = self.cfg
        pad = pad_for(cfg.channel, cfg.message_bytes)
        if cfg.publish_via == "jetstream":
            self.pub = await JetStreamPublisher.connect(
                cfg.nats_url, cfg.namespace, cfg.channel, pad, self.waker
            )
        else:
            self.pub = await open_client(
                lambda: Publisher(
                    cfg.host,
                    cfg.port,
                    cfg.publisher_path,
                    channel=cfg.channel,
                    pad=pad,
                    waker=self.waker,
                ),
                cfg.host,
                cfg.port,
                CONNECT_TIMEOUT_S,
            )
        await asyncio.sleep(SETTLE_S)
        try:
            await self._connect()
            phases = (
                ("warmup", self._send_warmup),
                ("steady", self._send_steady),
                ("fixed", self._send_fixed),
                ("max", self._send_max),
            )
            for name, send in () if cfg.connect_only else phases:
                self.result[name] = await self._phase(name, send)
        finally:
            await self._close()
        return self.result

    async def _connect(self) -> None:
        cfg, proc = self.cfg, self.proc
        rss_before = proc.rss_kib()
        gate = asyncio.Semaphore(cfg.concurrency)
        sampled = sample_indices(len(cfg.subscriber_paths), cfg.sample)

        async def one(index: int, path: str) -> Subscriber:
            async with gate:
                sub = await open_client(
                    lambda: Subscriber(
                        cfg.host, cfg.port, path, sampled=index in sampled, waker=self.waker
                    ),
                    cfg.host,
                    cfg.port,
                    CONNECT_TIMEOUT_S,
                )
                sub.subscribe(cfg.channel)
                try:
                    await asyncio.wait_for(asyncio.shield(sub.subscribed), CONNECT_TIMEOUT_S)
                except BaseException:
                    sub.abort()
                    raise
                return sub

        cpu_before, own_before = proc.cpu(), self.me.cpu()
        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(one(i, p) for i, p in enumerate(cfg.subscriber_paths)), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
        cpu, own = proc.cpu().since(cpu_before), self.me.cpu().since(own_before)
        self.subs = [o for o in outcomes if isinstance(o, Subscriber)]
        connected = len(self.subs)
        cpu_ms = 10 * cpu["cpu_pct"] * cpu["seconds"]
        self.sampled = [s for s in self.subs if s.sampled]
        failures = Counter(
            f"{type(o).__name__}: {o}"[:160] for o in outcomes if isinstance(o, BaseException)
        )
        await asyncio.sleep(SETTLE_S)
        rss_after = proc.rss_kib()
        self.result["connect"] = {
            "subscribers": connected,
            "failed": sum(failures.values()),
            "failures": dict(failures.most_common(5)),
            "seconds": elapsed,
            "per_s": connected / elapsed if elapsed else 0.0,
            "server_cpu": cpu,
            "server_cpu_ms_per_connect": cpu_ms / connected if connected else 0.0,
            "loadgen_cpu": own,
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "rss_per_conn_kib": (rss_after - rss_before) / connected if connected else 0.0,
        }
        log(
            f"{connected} subscribed in {elapsed:.2f}s ({connected / elapsed:,.0f}/s), "
            f"{len(failures)} kinds of failure, RSS {rss_before} -> {rss_after} KiB"
        )
        if not connected:
            raise RuntimeError(f"no subscriber connected: {dict(failures)}")

    async def _phase(self, name: str, send: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        assert self.pub is not None
        pub, subs, cfg = self.pub, self.subs, self.cfg
        base = [s.count for s in subs]
        for sub in self.sampled:
            sub.reset_samples()
        acked_before, failed_before, first_seq = len(pub.acked), len(pub.failed), pub.next_seq
        cpu_before, own_before = self.proc.cpu(), self.me.cpu()
        started_ns = time.time_ns()
        await send()
        sent = pub.next_seq - first_seq
        await self._until(lambda: pub.in_flight <= 0, cfg.drain_s)
        acked = pub.acked[acked_before:]
        expected = len(acked)
        await self._until(
            lambda: all(s.count - b >= expected for s, b in zip(subs, base, strict=True)),
            cfg.drain_s,
        )
        cpu, own = self.proc.cpu().since(cpu_before), self.me.cpu().since(own_before)
        received = [s.count - b for s, b in zip(subs, base, strict=True)]
        last_ns = max((s.last_ns for s, r in zip(subs, received, strict=True) if r), default=0)
        summary = phase_summary(
            sent=sent,
            acked=acked,
            failed=pub.failed[failed_before:],
            received=received,
            sampled=[(s.seqs, s.lats) for s in self.sampled],
            seconds=max(last_ns - started_ns, 1) / 1e9,
            server_cpu=cpu,
            loadgen_cpu=own,
        )
        log(
            f"{name}: {sent} published, {summary['delivered']:,} delivered "
            f"({summary['delivered_per_s']:,.0f}/s), p50 {summary['p50_ms']:.2f} ms, "
            f"p99 {summary['p99_ms']:.2f} ms, lost {summary['lost']}"
        )
        return summary

    async def _until(self, done: Callable[[], bool], timeout: float) -> None:
        # Polling on purpose: a check every 10 ms costs less than waking on every frame.
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def _send_at_rate(self, count: int, rate: float) -> None:
        """Publish on a fixed schedule, stamped with the *scheduled* time, so a server
        that falls behind shows it in latency (no coordinated omission)."""
        assert self.pub is not None
        pub, loop = self.pub, asyncio.get_running_loop()
        start, start_ns = loop.time(), time.time_ns()
        for k in range(count):
            delay = start + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            while pub.in_flight >= self.cfg.rpc_window:
                await self.waker.wait(0.5)
            pub.publish(start_ns + round(k * 1e9 / rate))

    async def _send_warmup(self) -> None:
        await self._send_at_rate(self.cfg.warmup, self.cfg.rate)

    async def _send_steady(self) -> None:
        await self._send_at_rate(
            max(1, round(self.cfg.steady_rate * self.cfg.fixed_seconds)), self.cfg.steady_rate
        )

    async def _send_fixed(self) -> None:
        await self._send_at_rate(
            max(1, round(self.cfg.rate * self.cfg.fixed_seconds)), self.cfg.rate
        )

    async def _send_max(self) -> None:
        """As fast as the server takes them: at most `window` publications not yet
        seen by the slowest sampled subscriber, and `rpc_window` unanswered rpcs."""
        assert self.pub is not None
        pub, cfg, loop = self.pub, self.cfg, asyncio.get_running_loop()
        sampled = self.sampled or self.subs[-1:]
        first, failed_before = pub.next_seq, len(pub.failed)
        end = loop.time() + cfg.max_seconds
        while pub.next_seq - first < cfg.max_messages and loop.time() < end:
            outstanding = (
                pub.next_seq
                - first
                - (len(pub.failed) - failed_before)
                - min(len(s.seqs) for s in sampled)
            )
            if pub.in_flight >= cfg.rpc_window or outstanding >= cfg.window:
                await self.waker.wait(0.2)
            else:
                pub.publish(time.time_ns())

    async def _close(self) -> None:
        problems = Counter(p for s in self.subs for p in s.problems)
        self.result["problems"] = {
            "count": sum(problems.values()),
            "examples": dict(problems.most_common(5)),
        }
        if problems:
            log(
                f"subscribers saw {sum(problems.values())} errors/disconnects: "
                f"{dict(problems.most_common(3))}"
            )
        for sub in self.subs:
            sub.close()
        if self.subs:
            await asyncio.wait([asyncio.ensure_future(s.closed) for s in self.subs], timeout=5)
        if self.pub is not None:
            await self.pub.aclose()


async def main() -> None:
    """Read the config from stdin, run, print the result as one JSON line."""
    raw = orjson.loads(sys.stdin.buffer.read())
    cfg = LoadConfig(**raw)
    raise_nofile_limit()
    async with asyncio.timeout(cfg.deadline_s):
        result = await LoadRun(cfg).run()
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    sys.stdout.flush()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent on Windows only
        asyncio.run(main())
    else:
        uvloop.run(main())
