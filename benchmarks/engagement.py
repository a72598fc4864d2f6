"""Live polls: a crowd votes in one poll at once, a quarter resending; exact tally or fail.

`--voters` (5,000) attendees, each with a token of their own, vote once in one
open `single` poll through the hub (REST, up to `--concurrency` requests in
flight), and a quarter of them send the same vote again at once, as a client
that gave up waiting would: to `--engagement-workers` (2) engagement worker
processes, with every other worker and the hub running. Measured twice in the
same run: with batched votes (workers/poll_votes.py: whatever queued while a
batch commits goes in the next one) and, as the baseline, batching off
(`BILTEN_BATCH_MAX=1`: a transaction per vote), fresh workers and a fresh
poll for each.

Reported: votes accepted (stored) per second and answered per second (stored,
or `already_voted` for a resend), p50/p99 of a vote's answer, vote-to-visible
latency at a subscriber of `event.{id}.polls` (from sending a vote to the first publication whose
voter count includes every vote acknowledged up to its acknowledgement), and
the final tally, published and in PostgreSQL, against the distinct voters:
they must be equal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from benchmarks.infra import Infra, call, create_event, free_port, token
from benchmarks.procs import Children, wait_http_ok
from benchmarks.report import ratio_header, ratio_row
from benchmarks.stats import percentile
from benchmarks.wsclient import WsClient, open_client
from bilten.infra.settings import settings_env
from bilten.protocol.commands import COMMANDS

NAME = "engagement"
SUMMARY = "votes/s through the hub and vote-to-visible latency, batched against one per vote"
ORG = "bench"
OPTIONS = ["Sarajevo", "Mostar", "Tuzla", "Banja Luka"]
SETTLE_S = 60.0
CONNECT_TIMEOUT_S = 30.0
SIDES = (("batched", None), ("baseline", 1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this benchmark."""
    parser.add_argument("--voters", type=int, default=5000, help="distinct voters")
    parser.add_argument("--resend", type=float, default=0.25, help="share that votes twice")
    parser.add_argument(
        "--transport",
        choices=("ws", "rest"),
        default="ws",
        help="ws: each voter's WebSocket rpc, connected before the storm; rest: REST votes",
    )
    parser.add_argument(
        "--concurrency", type=int, default=256, help="rest: requests in flight; ws: connecting"
    )
    parser.add_argument("--engagement-workers", type=int, default=2)
    parser.add_argument("--logs", metavar="DIR", help="keep the hub's and workers' logs here")


def quick(args: argparse.Namespace) -> None:
    """A smoke run."""
    args.voters, args.concurrency = 300, 32


async def _poll(base: str, organizer: str) -> tuple[int, int]:
    """A new event with a session and an open poll: (event_id, poll_id)."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {organizer}"}) as http:
        event_id = await create_event(http, base)
        session = await call(
            http, "POST", f"{base}/api/v1/events/{event_id}/sessions", {"title": "Bench"}
        )
        poll = await call(
            http,
            "POST",
            f"{base}/api/v1/sessions/{session['id']}/polls",
            {"question": "Which city?", "kind": "single", "options": OPTIONS},
        )
        await call(http, "POST", f"{base}/api/v1/polls/{poll['id']}/open")
    return event_id, int(poll["id"])


class Watcher:
    """A subscriber of the polls channel: when each voter count was first seen."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, int]] = []  # (time, voters), voters rising
        self.last = 0
        self.rose = asyncio.Event()

    async def run(self, ws: aiohttp.ClientWebSocketResponse, poll_id: int) -> None:
        async for msg in ws:
            now = time.perf_counter()
            frames = orjson.loads(msg.data)
            for frame in frames if isinstance(frames, list) else [frames]:
                data = frame.get("data") if frame.get("op") == "pub" else None
                if data and data.get("type") == "poll" and data["poll"]["id"] == poll_id:
                    voters = data["poll"]["tally"]["voters"]
                    if voters > self.last:
                        self.seen.append((now, voters))
                        self.last = voters
                        self.rose.set()

    async def until(self, count: int, timeout: float) -> None:
        """Until a publication counts `count` voters, or `timeout` passes (the report says)."""
        deadline = time.monotonic() + timeout
        while self.last < count and (left := deadline - time.monotonic()) > 0:
            self.rose.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.rose.wait(), left)

    def visible_at(self, count: int) -> float | None:
        """When a publication first counted at least `count` voters."""
        at = bisect_left([v for _, v in self.seen], count)
        return self.seen[at][0] if at < len(self.seen) else None


class VoteClient(WsClient):
    """One voter's socket on the load generator's cheap client (benchmarks/wsclient.py).

    `vote` sends rpc `polls.vote` with ids 1..sends; `done` resolves once
    every one of them is answered (or the socket is gone) and `answers` maps
    each id to its outcome, "ok" or the error code, and the time it came.
    """

    def __init__(self, host: str, port: int, path: str) -> None:
        super().__init__(host, port, path)
        self.answers: dict[int, tuple[float, str]] = {}
        self.expected = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def vote(self, poll_id: int, choice: int, sends: int) -> float:
        """Send the vote `sends` times; when the first left."""
        self.expected = sends
        sent = time.perf_counter()
        for n in range(1, sends + 1):
            self.send(
                b'{"op":"rpc","id":%d,"method":"polls.vote","params":{"poll_id":%d,"choice":%d}}'
                % (n, poll_id, choice)
            )
        return sent

    def on_text(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        now = time.perf_counter()
        frames = orjson.loads(data[start:end])
        for frame in frames if isinstance(frames, list) else [frames]:
            if frame.get("op") == "result":
                self.answers[frame["id"]] = (now, "ok")
            elif frame.get("op") == "error" and "id" in frame:
                self.answers[frame["id"]] = (now, frame["error"]["code"])
        if len(self.answers) >= self.expected and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.done.done():
            self.done.set_result(None)


async def _storm(
    base: str, secret: str, event_id: int, poll_id: int, args: argparse.Namespace
) -> dict[str, Any]:
    resenders = int(args.voters * args.resend)
    watcher = Watcher()
    acks: list[tuple[float, float]] = []  # (sent, acknowledged) of each stored vote
    latencies: list[int] = []
    outcomes: Counter[str] = Counter()
    gate, ready = asyncio.Event(), asyncio.Event()
    connected: list[VoteClient] = []
    url = f"{base}/api/v1/polls/{poll_id}/votes"
    ws_base = base.replace("http", "ws", 1)
    connecting = asyncio.Semaphore(args.concurrency)
    limit = 0 if args.transport == "ws" else args.concurrency  # a socket per voter
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit)) as http:
        watch_token = token(secret, "attendee", sub="screen", org=ORG, events=(event_id,))
        ws = await http.ws_connect(f"{ws_base}/ws?token={watch_token}")
        await ws.send_bytes(
            orjson.dumps({"op": "subscribe", "id": 1, "channel": f"event.{event_id}.polls"})
        )
        watching = asyncio.ensure_future(watcher.run(ws, poll_id))

        def record(sent: float, outcome: str, done: float | None = None) -> None:
            done = time.perf_counter() if done is None else done
            latencies.append(int((done - sent) * 1e9))
            outcomes[outcome] += 1
            if outcome == "ok":
                acks.append((sent, done))

        async def by_rest(headers: dict[str, str], choice: int) -> None:
            sent = time.perf_counter()
            try:
                async with http.post(url, json={"choice": choice}, headers=headers) as resp:
                    body = await resp.json()
                    outcome = "ok" if resp.status == 201 else body["error"]["code"]
            except (aiohttp.ClientError, TimeoutError):
                outcome = "error"
            record(sent, outcome)

        async def by_ws(bearer: str, choice: int, sends: int) -> None:
            host, port = ws_base.removeprefix("ws://").split(":")
            async with connecting:
                client = await open_client(
                    lambda: VoteClient(host, int(port), f"/ws?token={bearer}"),
                    host,
                    int(port),
                    CONNECT_TIMEOUT_S,
                )
            connected.append(client)
            if len(connected) == args.voters:
                ready.set()
            try:
                await gate.wait()
                sent = client.vote(poll_id, choice, sends)
                await client.done
                for n in range(1, sends + 1):
                    done, outcome = client.answers.get(n, (time.perf_counter(), "error"))
                    record(sent, outcome, done)
            finally:
                client.close()

        async def voter(n: int) -> None:
            bearer = token(secret, "attendee", sub=f"voter-{n}", org=ORG, events=(event_id,))
            sends = 2 if n < resenders else 1
            choice = n % len(OPTIONS)
            if args.transport == "ws":
                await by_ws(bearer, choice, sends)
                return
            await gate.wait()
            headers = {"Authorization": f"Bearer {bearer}"}
            await asyncio.gather(*(by_rest(headers, choice) for _ in range(sends)))

        tasks = [asyncio.ensure_future(voter(n)) for n in range(args.voters)]
        if args.transport == "ws":  # every voter connected first (or one failed to)
            waiting = asyncio.ensure_future(ready.wait())
            await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        await asyncio.sleep(0.2)
        began = time.perf_counter()
        gate.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
        await watcher.until(outcomes["ok"], SETTLE_S)
        watching.cancel()
        await ws.close()
    acks.sort(key=lambda a: a[1])
    visible = sorted(
        int((at - sent) * 1e9)
        for k, (sent, _) in enumerate(acks, start=1)
        if (at := watcher.visible_at(k)) is not None
    )
    latencies.sort()
    answered = outcomes["ok"] + outcomes["already_voted"]
    return {
        "votes_sent": sum(outcomes.values()),
        "outcomes": dict(outcomes),
        "votes_per_s": answered / elapsed,
        "accepted_per_s": outcomes["ok"] / elapsed,
        "p50_ms": percentile(latencies, 0.50) / 1e6,
        "p99_ms": percentile(latencies, 0.99) / 1e6,
        "visible_p50_ms": percentile(visible, 0.50) / 1e6 if visible else None,
        "visible_p99_ms": percentile(visible, 0.99) / 1e6 if visible else None,
        "published_voters": watcher.last,
        "errors": sum(n for code, n in outcomes.items() if code not in ("ok", "already_voted")),
    }


async def _stored(database_url: str, poll_id: int) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM poll_ballots WHERE poll_id = $1", poll_id)
        )
    finally:
        await conn.close()


def _row(label: str, batched: float | None, base: float | None, target: str = "") -> str:
    return ratio_row(label, batched, base, target, label_width=36, target_width=10)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the table."""
    results: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bilten-bench-") as tmp,
        Infra(Path(tmp)) as infra,
        Children(Path(args.logs or tmp)) as children,
    ):
        port = free_port()
        settings = infra.settings(port=port, log_level="WARNING", request_timeout_s=15.0)
        env = {**os.environ, **settings_env(settings)}
        for name in sorted({c.worker for c in COMMANDS.values() if c.worker} - {"engagement"}):
            children.spawn(
                name, [sys.executable, "-m", "bilten.deploy.cli", "worker", name], env, None
            )
        hub = children.spawn("hub", [sys.executable, "-m", "bilten.deploy.cli", "hub"], env, None)
        base = f"http://127.0.0.1:{port}"
        organizer = token(infra.secret, "organizer", sub="bench-org", org=ORG, events="*")
        for side, batch_max in SIDES:
            side_env = dict(env)
            if batch_max is not None:
                side_env["BILTEN_BATCH_MAX"] = str(batch_max)
            workers = [
                children.spawn(
                    f"engagement-{side}{n}",
                    [sys.executable, "-m", "bilten.deploy.cli", "worker", "engagement"],
                    side_env,
                    None,
                )
                for n in range(args.engagement_workers)
            ]
            wait_http_ok(f"{base}/readyz", hub, 60)
            event_id, poll_id = asyncio.run(_poll(base, organizer))
            result = asyncio.run(_storm(base, infra.secret, event_id, poll_id, args))
            result["stored"] = asyncio.run(_stored(infra.database_url, poll_id))
            result["distinct_voters"] = args.voters
            results[side] = result
            for worker in workers:
                children.stop(worker)
    print(
        f"\nengagement: {args.voters} voters at once in one poll, "
        f"{args.resend:.0%} sending their vote twice; "
        + (
            "each over its own WebSocket (rpc); "
            if args.transport == "ws"
            else f"REST, {args.concurrency} in flight; "
        )
        + f"{args.engagement_workers} engagement workers, restarted for each measurement; "
        "baseline: BILTEN_BATCH_MAX=1 (a transaction per vote)"
    )
    print(ratio_header(label_width=36, target_width=10))
    b, s = results["batched"], results["baseline"]
    for label, key, target in (
        ("votes accepted/s (stored)", "accepted_per_s", ">= 3000"),
        ("votes answered/s (with resends)", "votes_per_s", ""),
        ("vote answer p50 (ms)", "p50_ms", ""),
        ("vote answer p99 (ms)", "p99_ms", ""),
        ("vote-to-visible p50 (ms)", "visible_p50_ms", ""),
        ("vote-to-visible p99 (ms)", "visible_p99_ms", ""),
        ("ballots in PostgreSQL", "stored", f"= {args.voters}"),
        ("voters in the last publication", "published_voters", f"= {args.voters}"),
        ("errors", "errors", "0"),
    ):
        print(_row(label, b[key], s[key], target))
    for side, result in results.items():
        print(f"  {side}: {result['outcomes']}")
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(results))
    exact = all(
        r["stored"] == r["published_voters"] == r["distinct_voters"] and not r["errors"]
        for r in results.values()
    )
    return 0 if exact else 1
