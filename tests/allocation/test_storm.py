"""No overselling at any concurrency: storms over two hubs and several allocation workers
(one killed with SIGKILL), checked against PostgreSQL and against what subscribers see."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.seats import counts
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.allocation.helpers import (
    Crowd,
    SeatWatcher,
    Venue,
    check_holds,
    hold,
    make_venue,
    ok,
)
from tests.hub.helpers import Raw, connect
from tests.ready import free_port, processes_answer, spawn_worker, stop_process, workers_answer
from tests.waiting import WAIT_S, allowance, arrives

# Deadlines that grow with the work, and a pytest limit above them: the whole storm, and
# the hub's budget for one command, which may queue behind every other buyer's (the hub
# splits it over its retries, so a fixed 30 s timed out on a busy machine).
STORM, STORM_COMMAND = allowance(200 * 3), allowance(200)
KILL_STORM, KILL_STORM_COMMAND = allowance(80 * 3), allowance(80)
# One INSERT of 50,000 seats: it took over 30 s on a busy machine.
STADIUM_COMMAND = allowance(50_000, per_operation=0.002)


class Log(list[dict[str, Any]]):
    """What the buyers asked and were answered; `reached(n)` fires at n entries."""

    def __init__(self) -> None:
        super().__init__()
        self._marks: list[tuple[int, asyncio.Event]] = []

    def reached(self, n: int) -> asyncio.Event:
        mark = asyncio.Event()
        self._marks.append((n, mark))
        return mark

    def add(self, entry: dict[str, Any]) -> None:
        self.append(entry)
        for n, mark in self._marks:
            if len(self) >= n:
                mark.set()


async def _buyer(raw: Raw, venue: Venue, n: int, rounds: int, log: Log) -> None:
    """A few holds of every kind, each then confirmed, released or kept."""
    rng = random.Random(n)
    contested = venue.rows["A/1"] + venue.rows["A/2"]  # everyone wants the front
    for _ in range(rounds):
        kind = rng.choice(("chosen", "best", "ga"))
        if kind == "chosen":
            ask: dict[str, Any] = {"seat_ids": rng.sample(contested, rng.randint(1, 3))}
        elif kind == "best":
            ask = {"ticket_type_id": venue.parter, "quantity": rng.randint(2, 4)}
        else:
            ask = {"ticket_type_id": venue.ga, "quantity": rng.randint(1, 3)}
        answer = await hold(raw, venue.event_id, **ask)
        entry = {"kind": kind, "ask": ask, "answer": answer, "end": "kept", "buyer": n}
        log.add(entry)
        if answer["status"] != "held":
            assert answer["reason"] in ("unavailable", "quota_exhausted", "limit_exceeded")
            continue
        then = rng.random()
        if then < 0.4:
            order = ok(await raw.call("seats.confirm", {"hold_id": answer["hold_id"]}))
            assert order["status"] == "confirmed" and order["hold_id"] == answer["hold_id"]
            entry["end"], entry["order"] = "confirmed", order
        elif then < 0.7:
            assert (
                ok(await raw.call("seats.release", {"hold_id": answer["hold_id"]}))["status"]
                == "released"
            )
            entry["end"] = "released"


@pytest.mark.request_timeout(STORM_COMMAND)
@pytest.mark.timeout(STORM + 3 * WAIT_S)
async def test_storm_two_hubs_two_workers(
    workers: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """200 buyers on two hubs, two allocation workers; two subscribers (one joins mid-storm)."""
    stop = asyncio.Event()
    extra = asyncio.get_running_loop().create_task(run_workers(workers, ["allocation"], stop))
    watchers: list[SeatWatcher] = []
    crowd = Crowd(patience=STORM)
    try:
        await workers_answer(workers, ["allocation"], running=extra)
        hubs = [await aiohttp_server(create_app(workers)) for _ in range(2)]
        organizer = await crowd.connect(hubs[0], make_token("organizer"))
        venue = await make_venue(organizer, rows=10, seats=30, ga_quota=100)
        token = make_token("attendee", sub="watcher", events=[venue.event_id])
        watchers.append(SeatWatcher(await crowd.connect(hubs[1], token), venue.event_id))
        await watchers[0].start()
        buyers = [
            await crowd.connect(
                hubs[n % 2], make_token("attendee", sub=f"buyer-{n}", events=[venue.event_id])
            )
            for n in range(200)
        ]
        log = Log()

        async def late_watcher(k: int) -> None:  # subscribers arriving mid-storm
            await log.reached(100 * k).wait()
            watchers.append(SeatWatcher(await crowd.connect(hubs[k % 2], token), venue.event_id))
            await watchers[-1].start()

        started = time.perf_counter()
        await arrives(
            asyncio.gather(
                *(late_watcher(k) for k in range(1, 6)),
                *(_buyer(raw, venue, n, 3, log) for n, raw in enumerate(buyers)),
            ),
            what="200 buyers' 600 holds",
            timeout=STORM,
        )
        assert len(log) == 600
        outcomes = Counter(e["answer"].get("reason", "held") for e in log)
        assert outcomes["held"] > 100 and outcomes["unavailable"] > 0, outcomes
        await check_holds(workers, venue, log, quota=100)
        for watcher in watchers:
            await watcher.until_equal(workers, venue.event_id)
        elapsed = time.perf_counter() - started
        views = [w.view for w in watchers if w.view is not None]
        assert len(views) == 6 and all(counts(v) == counts(views[0]) for v in views)
        # Coalesced: at most ~10 deltas a second. A rate, not a speed: a slower run only
        # lengthens `elapsed` and so loosens the bound.
        assert len(watchers[0].deltas) <= 10 * (elapsed + 1), (len(watchers[0].deltas), elapsed)
    finally:
        for watcher in watchers:
            await watcher.close()
        await crowd.close()
        stop.set()
        await arrives(extra, what="the extra allocation worker to stop")


@pytest.mark.request_timeout(STADIUM_COMMAND)
@pytest.mark.timeout(STADIUM_COMMAND + 3 * WAIT_S)
async def test_stadium_in_one_call_and_a_small_snapshot(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"), patience=2 * STADIUM_COMMAND)
    venue = await make_venue(organizer, rows=1, seats=1)
    sections = [
        {
            "name": f"S{s:02d}",
            "ticket_type_id": venue.parter,
            "rows": [{"name": str(r), "seats": 50} for r in range(1, 41)],
        }
        for s in range(25)
    ]
    body = orjson.dumps({"sections": sections})
    assert len(body) < workers.max_frame_bytes  # one REST call or one frame
    created = ok(
        await organizer.call("seats.create", {"event_id": venue.event_id, "sections": sections})
    )
    assert created["seats"] == 50_000
    watcher = SeatWatcher(
        await connect(client, make_token("attendee", events=[venue.event_id])), venue.event_id
    )
    await watcher.start()
    try:
        assert watcher.view is not None and len(watcher.view.states) == 50_005
        fresh = watcher.snapshot_bytes
        assert fresh < 4_000, fresh  # 50,005 seats: 2,043 bytes, mostly per-section counts
        # Scatter 500 held seats over the stadium: the encoding grows with runs, not seats.
        rng = random.Random(7)
        ids = rng.sample(sorted(watcher.view.states), 500)
        for start in range(0, 500, 100):
            assert (await hold(organizer, venue.event_id, seat_ids=ids[start : start + 100]))[
                "status"
            ] == "held"
        await watcher.until_equal(workers, venue.event_id)
        again = SeatWatcher(
            await connect(client, make_token("attendee", events=[venue.event_id])), venue.event_id
        )
        await again.start()
        await again.close()
        assert again.snapshot_bytes < 10_000, again.snapshot_bytes  # 4,191 bytes
        assert again.view is not None and again.view.states == watcher.view.states
    finally:
        await watcher.close()


@pytest.mark.request_timeout(KILL_STORM_COMMAND)
@pytest.mark.timeout(KILL_STORM + 3 * WAIT_S)
async def test_allocation_worker_killed_mid_storm(
    migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Two allocation worker processes; one gets SIGKILL mid-storm. Retried holds (the hub's
    nonce) come back as the same hold; the database stays exact."""
    stop = asyncio.Event()
    others_names = [w for w in WORKERS if w != "allocation"]
    others = asyncio.get_running_loop().create_task(run_workers(migrated, others_names, stop))
    ports = [free_port() for _ in range(2)]
    victims = [spawn_worker(migrated, "allocation", port) for port in ports]
    watcher: SeatWatcher | None = None
    try:
        await workers_answer(migrated, others_names, running=others)
        await processes_answer(migrated, "allocation", ports)  # the victim was serving
        hub = await aiohttp_client(await aiohttp_server(create_app(migrated)))
        organizer = await connect(hub, make_token("organizer"))
        venue = await make_venue(organizer, rows=6, seats=20, ga_quota=60)
        watcher = SeatWatcher(
            await connect(
                hub,
                make_token("attendee", sub="watcher", events=[venue.event_id]),
                patience=KILL_STORM,
            ),
            venue.event_id,
        )
        await watcher.start()
        buyers = [
            await connect(
                hub,
                make_token("attendee", sub=f"buyer-{n}", events=[venue.event_id]),
                patience=KILL_STORM,
            )
            for n in range(80)
        ]
        log = Log()
        mid_storm = log.reached(60)

        async def killer() -> int:
            await mid_storm.wait()
            victims[0].send_signal(signal.SIGKILL)
            return len(log)

        _, killed_at = await arrives(
            asyncio.gather(
                asyncio.gather(*(_buyer(raw, venue, n, 3, log) for n, raw in enumerate(buyers))),
                killer(),
            ),
            what="80 buyers' 240 holds",
            timeout=KILL_STORM,
        )
        assert 60 <= killed_at < 200 and len(log) == 240
        assert victims[0].wait(WAIT_S) == -signal.SIGKILL
        await check_holds(migrated, venue, log, quota=60)
        await watcher.until_equal(migrated, venue.event_id)
    finally:
        if watcher is not None:
            await watcher.close()
        for victim in victims:
            stop_process(victim)
        stop.set()
        await arrives(others, what="the in-process workers to stop")
