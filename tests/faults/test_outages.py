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
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from bilten.deploy.embedded import EmbeddedStack, ServerName
from bilten.hub.app import create_app
from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings, settings_env
from tests.allocation.helpers import make_venue
from tests.checkin.helpers import door_setup
from tests.hub.helpers import Raw

pytestmark = [pytest.mark.faults, pytest.mark.timeout(100)]

RETRYABLE = {503: "unavailable", 504: "timeout"}
DEADLINE_S = 60.0  # generous: the machine is shared; nothing here measures speed
LOADERS_PER_KIND = 2


class Patient(Raw):
    """A WebSocket client for setup that waits out `unavailable` (workers still starting)."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        async with asyncio.timeout(DEADLINE_S):
            while True:
                reply = await super().call(method, params)
                if reply["op"] != "error" or reply["error"]["code"] != "unavailable":
                    return reply
                await asyncio.sleep(0.05)


@dataclass
class Answer:
    """One REST answer: what was asked, in which phase, and what came back."""

    kind: str
    key: str
    phase: str
    status: int
    body: Any


@dataclass
class Traffic:
    """Scans, holds and publishes in loops through REST, recording every answer."""

    client: Any
    staff: str
    organizer: str
    scan_event: int
    hold_event: int
    ga_type: int
    codes: list[str]
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    running: bool = True

    @property
    def channel(self) -> str:
        return f"event.{self.scan_event}.announcements"

    def request(
        self, kind: str, key: str, idempotency_key: str | None
    ) -> tuple[str, dict[str, Any], str]:
        """Path, body and token of one request of `kind` with its unique `key`."""
        if kind == "scan":
            code = self.codes[sum(key.encode()) % len(self.codes)]
            return (
                f"/api/v1/events/{self.scan_event}/checkins",
                {"code": code, "gate": "north", "direction": "in", "nonce": key},
                self.staff,
            )
        if kind == "hold":
            return (
                f"/api/v1/events/{self.hold_event}/holds",
                {"ticket_type_id": self.ga_type, "quantity": 1, "nonce": key},
                self.organizer,
            )
        body = {"data": {"key": key}}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return f"/api/v1/channels/{self.channel}/publish", body, self.organizer

    async def send(
        self, kind: str, key: str, phase: str, idempotency_key: str | None = None
    ) -> Answer:
        path, body, token = self.request(kind, key, idempotency_key)
        response = await self.client.post(
            path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=DEADLINE_S),
        )
        answer = Answer(kind, key, phase, response.status, await response.json())
        self.answers.append(answer)
        self.changed.set()
        return answer

    async def load(self, kind: str, worker: int) -> None:
        """Requests of `kind`, one after another, until `running` is cleared."""
        n = 0
        while self.running:
            n += 1
            key = f"{kind}-{worker}-{n}"
            # Every other publish leaves the idempotency key to the hub.
            await self.send(kind, key, self.phase, key if n % 2 else None)

    def count(self, kind: str, phase: str, *, ok: bool) -> int:
        return sum(
            1
            for a in self.answers
            if a.kind == kind and a.phase == phase and (a.status < 300) == ok
        )

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(DEADLINE_S):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            seen = Counter((a.phase, a.kind, a.status) for a in self.answers)
            raise AssertionError(f"{what}: not within {DEADLINE_S}s; answers {seen}") from None


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
        organizer_token = make_token("organizer")
        organizer = Patient(await client.ws_connect(f"/ws?token={organizer_token}"))
        door = await door_setup(organizer, count=5)
        venue = await make_venue(organizer, rows=1, seats=2, ga_quota=100_000)
        staff = make_token("staff", events=[door.event_id], sub="gate-1")
        traffic = Traffic(
            client,
            staff,
            organizer_token,
            door.event_id,
            venue.event_id,
            venue.ga,
            [t["code"] for t in door.tickets],
        )
        loaders = [
            asyncio.get_running_loop().create_task(traffic.load(kind, worker))
            for kind in ("scan", "hold", "publish")
            for worker in range(LOADERS_PER_KIND)
        ]
        kinds = ("scan", "hold", "publish")
        await traffic.until(
            lambda: all(traffic.count(k, "before", ok=True) >= 2 for k in kinds), "traffic flows"
        )

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
        await traffic.until(
            lambda: all(traffic.count(k, "after", ok=True) >= 2 for k in kinds), "service resumes"
        )
        traffic.running = False
        await asyncio.gather(*loaders)

        assert workers.poll() is None, "the worker process exited"
        failed = [a for a in traffic.answers if a.status >= 300]
        assert failed, "the outage never showed in an answer"
        for answer in failed:
            assert RETRYABLE.get(answer.status) == answer.body["error"]["code"], answer
        # Publishes that failed are retried with their key until they are stored.
        for answer in failed:
            if answer.kind == "publish":
                await _retry_publish(traffic, answer)
        await _check_nothing_lost_or_doubled(settings, traffic, door.event_id, venue.event_id)
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


async def _retry_publish(traffic: Traffic, failed: Answer) -> None:
    """Publish again with the key the failure named (the client's or the hub's own)."""
    idempotency_key = failed.body["error"]["details"]["idempotency_key"]
    async with asyncio.timeout(DEADLINE_S):
        while True:
            answer = await traffic.send("publish", failed.key, "retry", idempotency_key)
            if answer.status < 300:
                assert answer.body["idempotency_key"] == idempotency_key
                return
            assert RETRYABLE.get(answer.status) == answer.body["error"]["code"], answer


async def _check_nothing_lost_or_doubled(
    settings: Settings, traffic: Traffic, scan_event: int, hold_event: int
) -> None:
    ok = [a for a in traffic.answers if a.status < 300]
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        scans = {
            r["nonce"]
            for r in await conn.fetch("SELECT nonce FROM scans WHERE event_id = $1", scan_event)
        }
        holds = {
            r["nonce"]: r["id"]
            for r in await conn.fetch("SELECT id, nonce FROM holds WHERE event_id = $1", hold_event)
        }
    finally:
        await conn.close()
    for answer in ok:
        if answer.kind == "scan":
            assert answer.key in scans, answer
        elif answer.kind == "hold":
            assert answer.body["status"] == "held", answer
            assert holds.get(answer.key) == answer.body["hold_id"], answer

    stored: defaultdict[str, list[int]] = defaultdict(list)
    async with open_deps(settings, "fault-test-reader") as deps:
        top = await deps.channels.position(traffic.channel)
        assert top is not None
        history = await deps.channels.read_after(traffic.channel, "", 0, top)
    assert history is not None and len(history) == top.offset
    for item in history:
        stored[orjson.loads(item.data)["key"]].append(item.offset)
    doubled = {key: offsets for key, offsets in stored.items() if len(offsets) > 1}
    assert not doubled, f"publications stored more than once: {doubled}"
    given = {a.key: a.body["offset"] for a in ok if a.kind == "publish"}
    for key, offset in given.items():
        assert stored.get(key) == [offset], (key, offset, stored.get(key))
    retried = Counter(a.key for a in traffic.answers if a.kind == "publish")
    assert all(key in stored for key, n in retried.items() if n > 1)
