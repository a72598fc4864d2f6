"""checkin.scan in batches (workers/checkin_batch.py), through a real check-in worker.

Batches are made to form without relying on speed: a test transaction holds
the row lock of one ticket, scans of it keep both lanes of the worker busy,
and the storm is sent while they wait, so it queues (the worker's
`bilten_worker_queued` gauge says when) and is decided together once the
lock goes. `bilten_worker_batch_size` then shows the batches the worker made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from bilten.hub.app import create_app
from bilten.infra.deps import Deps, open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.rpc import request
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.errors import BadRequest, Conflict
from bilten.protocol.tokens import mint_claims
from bilten.workers.context import WorkerContext
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from bilten.workers.shape import run_worker
from tests.checkin.helpers import DoorSetup, door_setup
from tests.hub.helpers import connect
from tests.ready import workers_answer
from tests.waiting import WAIT_S, allowance, arrives, wait_for

STAFF = mint_claims(sub="door-1", org="acme", role="staff", events="*", ttl_s=3600, now=time.time())

_BLOCKED_BY = """WITH RECURSIVE blocked (pid) AS (
        SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
        UNION SELECT a.pid FROM pg_stat_activity a
              JOIN blocked b ON b.pid = ANY(pg_blocking_pids(a.pid))
    ) SELECT count(*) FROM blocked"""


@dataclass
class Door:
    """A ready event, the check-in worker's metrics, and a way to send it scans."""

    setup: DoorSetup
    deps: Deps
    metrics: Metrics
    database_url: str

    def scan(
        self,
        code: str,
        nonce: str,
        gate: str = "north",
        sent_at: float | None = None,
        **extra: Any,
    ) -> Awaitable[Any]:
        params = {"event_id": self.setup.event_id, "code": code, "gate": gate, "nonce": nonce}
        ask = CommandRequest("checkin.scan", STAFF, {**params, **extra}, sent_at=sent_at)
        body = encode_request(ask)
        subject = self.deps.subjects.command("checkin.scan")
        return asyncio.ensure_future(
            request(self.deps.nc, subject, body, timeout=WAIT_S, what="checkin.scan")
        )

    def sample(self, name: str) -> float:
        return self.metrics.registry.get_sample_value(name, {"worker": "checkin"}) or 0.0

    async def hold(self, ticket: int) -> asyncpg.Connection:
        """A connection whose open transaction holds the ticket's row lock (see `release`)."""
        conn = await asyncpg.connect(self.database_url)
        await conn.execute("BEGIN")
        await conn.execute("SELECT 1 FROM ticket_presence WHERE ticket_id = $1 FOR UPDATE", ticket)
        return conn

    @staticmethod
    async def release(holder: asyncpg.Connection) -> None:
        """Commit what `holder` did and let the scans waiting for it go on."""
        await holder.execute("COMMIT")
        await holder.close()

    async def waiting_on(self, holder: asyncpg.Connection, count: int) -> None:
        """Until `count` transactions wait for a lock `holder` holds (the second waiter of
        a row waits for the first: the waits are followed)."""
        pid = holder.get_server_pid()

        async def blocked() -> bool:
            n = await self.deps.pg.fetchval(_BLOCKED_BY, pid)
            return bool(n >= count)

        await wait_for(blocked, what=f"{count} scans to wait for the ticket's lock")

    async def busy_lanes(self, ticket: dict[str, Any], holder: asyncpg.Connection) -> list[Any]:
        """Occupy both lanes of the worker with a scan of the held ticket each."""
        first = self.scan(ticket["code"], "lane-1:000001")
        await self.waiting_on(holder, 1)
        second = self.scan(ticket["code"], "lane-2:000001")
        await self.waiting_on(holder, 2)
        return [first, second]

    async def queued(self, count: int) -> None:
        await wait_for(
            lambda: self.sample("bilten_worker_queued") >= count, what=f"{count} scans to queue"
        )


@pytest.fixture
async def door(
    migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> AsyncIterator[Door]:
    """A hub with the event and ticket workers, and one check-in worker of the test's own."""
    stop = asyncio.Event()
    others = asyncio.get_running_loop().create_task(
        run_workers(migrated, ["events", "tickets"], stop)
    )
    metrics = Metrics()
    async with open_deps(migrated, "test-checkin") as deps:
        checkin = asyncio.get_running_loop().create_task(
            run_worker(WORKERS["checkin"], WorkerContext(deps, metrics), stop)
        )
        try:
            await workers_answer(migrated, ["events", "tickets"], running=others)
            await workers_answer(migrated, ["checkin"], running=checkin)
            hub = await aiohttp_client(await aiohttp_server(create_app(migrated)))
            setup = await door_setup(await connect(hub, make_token("organizer")), count=8)
            assert migrated.database_url
            yield Door(setup, deps, metrics, migrated.database_url)
        finally:
            stop.set()
            await arrives(asyncio.gather(others, checkin), what="the workers to stop")


async def test_a_scan_sent_without_a_time_is_dated_by_the_hubs_clock(door: Door) -> None:
    """Not by the worker's, which reaches it later when busy, stalled or restarted: the
    time decides the order of synced scans (docs/checkin.md §Scanning)."""
    first, second = door.setup.tickets[:2]
    sent = time.time() - 90.0  # a hub's call the worker reached a minute and a half late
    verdict = await door.scan(first["code"], "dated:000001", sent_at=sent)
    assert verdict["status"] == "ok", verdict
    assert datetime.fromisoformat(verdict["scanned_at"]) == datetime.fromtimestamp(
        round(sent * 1000) / 1000, UTC
    )
    given = "2027-06-01T17:02:26.776058+00:00"  # the client's own time wins
    verdict = await door.scan(second["code"], "dated:000002", sent_at=sent, scanned_at=given)
    assert verdict["scanned_at"] == given, verdict


async def test_a_storm_on_few_tickets_admits_each_once_in_batches(door: Door) -> None:
    held, *tickets = door.setup.tickets[:6]
    holder = await door.hold(held["id"])
    try:
        lanes = await door.busy_lanes(held, holder)
        storm = [
            door.scan(ticket["code"], f"gate-{n}:{i:06d}", ("north", "south")[n % 2])
            for i in range(6)
            for n, ticket in enumerate(tickets)
        ]
        storm += [door.scan(tickets[0]["code"], "again:000001") for _ in range(2)]
        storm.append(door.scan("not-a-ticket-code", "bad:0000001"))
        storm.append(door.scan(tickets[1]["code"], "west:0000001", gate="west"))
        storm.append(door.scan(tickets[1]["code"], "again:000001"))  # the nonce, another code
        await door.queued(len(storm))
    finally:
        await door.release(holder)
    answers = await arrives(
        asyncio.gather(*lanes, *storm, return_exceptions=True),
        what="every scan answered",
        timeout=allowance(len(storm)),
    )
    first, second, *verdicts, same_a, same_b, invalid, west, reused = answers
    assert (first["status"], second["reason"]) == ("ok", "already_inside")
    assert same_a == same_b and same_a["nonce"] == "again:000001"  # one decision for the nonce
    assert isinstance(reused, Conflict) and reused.details["field"] == "nonce"
    assert isinstance(west, BadRequest) and west.details["field"] == "gate"
    assert (invalid["status"], invalid["reason"], invalid["ticket"]) == (
        "rejected",
        "invalid",
        None,
    )
    decided = [*verdicts, same_a]
    admitted = sorted(v["ticket"]["id"] for v in decided if v["status"] == "ok")
    assert admitted == sorted(t["id"] for t in tickets)  # each exactly once
    assert {v["reason"] for v in decided if v["status"] != "ok"} == {"already_inside"}
    assert sorted(v["inside"] for v in decided if v["status"] == "ok") == [2, 3, 4, 5, 6]
    # One batch per lane's scan, then the whole storm, queued meanwhile, as one.
    assert door.sample("bilten_worker_batch_size_count") == 3
    assert door.sample("bilten_worker_batch_size_sum") == 2 + len(storm)
    stored = await door.deps.pg.fetchval(
        "SELECT count(*) FROM scans WHERE event_id = $1", door.setup.event_id
    )
    assert stored == 2 + len(storm) - 3  # not the twin, the unknown gate, the reused nonce
    inside = await door.deps.pg.fetchval(
        "SELECT sum(n) FROM inside_counts WHERE event_id = $1", door.setup.event_id
    )
    assert inside == 6


async def test_a_nonce_decided_elsewhere_meanwhile_answers_its_stored_verdict(door: Door) -> None:
    """Another worker commits a nonce of the batch while the batch waits for a ticket's lock:
    the batch's insert fails on the nonce, each of its scans is decided again alone, and
    that one answers what the other worker stored."""
    held, other, mine, late = door.setup.tickets[:4]
    lanes_holder = await door.hold(held["id"])
    holder = await door.hold(other["id"])
    try:
        lanes = await door.busy_lanes(held, lanes_holder)
        batch = [
            door.scan(other["code"], "batch:000001"),
            door.scan(mine["code"], "batch:000002"),
            door.scan(late["code"], "elsewhere:01"),
        ]
        await door.queued(len(batch))
        await door.release(lanes_holder)  # the lanes finish, then one takes the three
        await door.waiting_on(holder, 1)  # the batch, for `other`: its nonces looked up
        stored = await _decided_elsewhere(holder, door.setup.event_id, late["code"])
    finally:
        await door.release(holder)
    answers = await arrives(asyncio.gather(*lanes, *batch), what="every scan answered")
    assert answers[2]["status"] == "ok" and answers[3]["status"] == "ok"
    assert answers[4] == stored  # not decided again: the stored verdict
    # The two lanes' scans and the batch of three (decided again alone within it).
    assert door.sample("bilten_worker_batch_size_count") == 3
    assert door.sample("bilten_worker_batch_size_sum") == 2 + 3
    inside = await door.deps.pg.fetchval(
        "SELECT sum(n) FROM inside_counts WHERE event_id = $1", door.setup.event_id
    )
    assert inside == 3


async def _decided_elsewhere(conn: asyncpg.Connection, event_id: int, code: str) -> dict[str, Any]:
    """Store a verdict for the nonce `elsewhere:01` in `conn`'s transaction."""
    verdict = {
        "status": "rejected",
        "reason": "invalid",
        "ticket": None,
        "previous": None,
        "gate": "south",
        "direction": "in",
        "scanned_at": datetime.now(UTC).isoformat(),
        "nonce": "elsewhere:01",
        "code": code,
        "event_id": event_id,
        "offline": False,
        "device": None,
        "inside": 0,
    }
    await conn.execute(
        "INSERT INTO scans (event_id, nonce, gate, direction, status, reason, scanned_at,"
        " verdict) VALUES ($1, $2, 'south', 'in', 'rejected', 'invalid', now(), $3::jsonb)",
        event_id,
        "elsewhere:01",
        orjson.dumps(verdict).decode(),
    )
    return verdict
