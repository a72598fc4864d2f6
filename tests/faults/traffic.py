"""Load for the fault tests, and the checks after it: nothing acknowledged lost or doubled.

A steady stream of scans (`checkin.scan`), holds (`seats.hold`) and publishes
(`channels.publish`, every other one with the client's own idempotency key)
goes through REST while a test breaks something. Every answer is recorded
with the phase it came in. Failures may only be `unavailable` or `timeout`,
the retryable codes; a retrying load sends a failed request again with the
same nonce or idempotency key until it is answered, as a client would.

`check_nothing_lost_or_doubled` then reads PostgreSQL and the channel's
history: every acknowledged scan and hold is there once, no ticket was let in
twice, every acknowledged publication is at the offset it was given, and
nothing is stored twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import orjson

from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings
from tests.allocation.helpers import make_venue
from tests.checkin.helpers import door_setup
from tests.hub.helpers import Raw

RETRYABLE = {503: "unavailable", 504: "timeout"}
DEADLINE_S = 60.0  # generous: the machine is shared; nothing here measures speed
LOADERS_PER_KIND = 2
RETRY_PAUSE_S = 0.1  # a client's pause before it sends a failed request again
KINDS = ("scan", "hold", "publish")


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
    """One REST answer: what was asked, in which phase, whether again, and what came back."""

    kind: str
    key: str
    phase: str
    status: int
    body: Any
    retry: bool = False


@dataclass
class Traffic:
    """Scans, holds and publishes in loops through REST, recording every answer.

    `client` posts paths relative to the hub (an aiohttp test client, or a
    session with a `base_url`). With `retry`, a loop sends a failed request
    again (same key) until it is answered before it moves on.
    """

    client: Any
    staff: str
    organizer: str
    scan_event: int
    hold_event: int
    ga_type: int
    codes: list[str]
    retry: bool = False
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
        self, kind: str, key: str, idempotency_key: str | None = None, *, retry: bool = False
    ) -> Answer:
        """One request, recorded with the phase it was sent in."""
        phase = self.phase
        path, body, token = self.request(kind, key, idempotency_key)
        response = await self.client.post(
            path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=DEADLINE_S),
        )
        answer = Answer(kind, key, phase, response.status, await response.json(), retry)
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
            answer = await self.send(kind, key, key if n % 2 else None)
            if self.retry and answer.status >= 300:
                await retry_until_answered(self, answer)

    def start(self) -> list[asyncio.Task[None]]:
        """The loops, LOADERS_PER_KIND of each kind, running until `running` is cleared."""
        loop = asyncio.get_running_loop()
        return [
            loop.create_task(self.load(kind, worker))
            for kind in KINDS
            for worker in range(LOADERS_PER_KIND)
        ]

    def count(self, kind: str, phase: str, *, ok: bool) -> int:
        """Answers of `kind` to requests sent in `phase`, first tries only."""
        return sum(
            1
            for a in self.answers
            if a.kind == kind and a.phase == phase and (a.status < 300) == ok and not a.retry
        )

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(DEADLINE_S):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            seen = Counter((a.phase, a.kind, a.status, a.retry) for a in self.answers)
            raise AssertionError(f"{what}: not within {DEADLINE_S}s; answers {seen}") from None

    def flows(self, phase: str, at_least: int = 2) -> Callable[[], bool]:
        """A condition: every kind answered `at_least` times in `phase`."""
        return lambda: all(self.count(k, phase, ok=True) >= at_least for k in KINDS)


async def setup_traffic(client: Any, make_token: Callable[..., str], *, retry: bool) -> Traffic:
    """A door event with five tickets and a venue with general admission, and their traffic.

    `client` must also open `/ws` relative to the hub.
    """
    organizer_token = make_token("organizer")
    organizer = Patient(await client.ws_connect(f"/ws?token={organizer_token}"))
    door = await door_setup(organizer, count=5)
    venue = await make_venue(organizer, rows=1, seats=2, ga_quota=100_000)
    await organizer.ws.close()
    return Traffic(
        client,
        make_token("staff", events=[door.event_id], sub="gate-1"),
        organizer_token,
        door.event_id,
        venue.event_id,
        venue.ga,
        [t["code"] for t in door.tickets],
        retry=retry,
    )


def assert_failures_retryable(traffic: Traffic) -> list[Answer]:
    """The failed answers, each `unavailable` or `timeout` (never a 500)."""
    failed = [a for a in traffic.answers if a.status >= 300]
    for answer in failed:
        assert RETRYABLE.get(answer.status) == answer.body["error"]["code"], answer
    return failed


async def retry_until_answered(traffic: Traffic, failed: Answer) -> Answer:
    """Send `failed` again with the same key (for a publish, the one its error named)."""
    idempotency_key = (
        failed.body["error"]["details"]["idempotency_key"] if failed.kind == "publish" else None
    )
    async with asyncio.timeout(DEADLINE_S):
        while True:
            answer = await traffic.send(failed.kind, failed.key, idempotency_key, retry=True)
            if answer.status < 300:
                if idempotency_key is not None:
                    assert answer.body["idempotency_key"] == idempotency_key
                return answer
            assert RETRYABLE.get(answer.status) == answer.body["error"]["code"], answer
            await asyncio.sleep(RETRY_PAUSE_S)


async def check_nothing_lost_or_doubled(settings: Settings, traffic: Traffic) -> None:
    """Every acknowledged request stored once, as acknowledged, and no ticket let in twice."""
    ok = [a for a in traffic.answers if a.status < 300]
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        scans = await conn.fetch(
            "SELECT nonce, ticket_id, status FROM scans WHERE event_id = $1", traffic.scan_event
        )
        holds = {
            r["nonce"]: r["id"]
            for r in await conn.fetch(
                "SELECT id, nonce FROM holds WHERE event_id = $1", traffic.hold_event
            )
        }
    finally:
        await conn.close()
    scanned = {r["nonce"]: r["status"] for r in scans}
    # Every scan is "in": a ticket let in twice would be a second entry.
    entries = Counter(r["ticket_id"] for r in scans if r["status"] == "ok")
    assert all(n == 1 for n in entries.values()), f"tickets let in more than once: {entries}"
    for answer in ok:
        if answer.kind == "scan":
            assert scanned.get(answer.key) == answer.body["status"], answer
        elif answer.kind == "hold":
            assert answer.body["status"] == "held", answer
            assert holds.get(answer.key) == answer.body["hold_id"], answer

    stored: defaultdict[str, list[int]] = defaultdict(list)
    async with open_deps(settings, "fault-test-reader") as deps:
        top = await deps.channels.position(traffic.channel)
        assert top is not None
        history = await deps.channels.read_after(traffic.channel, "", 0, top)
    assert history is not None and len(history) == top.offset
    assert [item.offset for item in history] == list(range(1, top.offset + 1)), "a gap"
    for item in history:
        stored[orjson.loads(item.data)["key"]].append(item.offset)
    doubled = {key: offsets for key, offsets in stored.items() if len(offsets) > 1}
    assert not doubled, f"publications stored more than once: {doubled}"
    given = {a.key: a.body["offset"] for a in ok if a.kind == "publish"}
    for key, offset in given.items():
        assert stored.get(key) == [offset], (key, offset, stored.get(key))
    retried = Counter(a.key for a in traffic.answers if a.kind == "publish")
    assert all(key in stored for key, n in retried.items() if n > 1)
