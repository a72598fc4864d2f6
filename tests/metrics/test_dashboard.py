"""The live dashboard: equal to PostgreSQL once quiet, whatever was lost on the way; at
most one publication a second; organizers only."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from datetime import datetime, timedelta
from typing import Any

import nats
import pytest
import redis.asyncio as aioredis
from nats.js.errors import NotFoundError

from bilten.hub.app import create_app
from bilten.infra.keys import RedisKeys
from bilten.infra.settings import Settings
from bilten.protocol.dashboard import per_minute, series_start
from bilten.protocol.subjects import Subjects
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.allocation.helpers import Crowd, Venue, db, hold, make_venue, ok
from tests.engagement.helpers import make_poll
from tests.hub.helpers import Raw, connect
from tests.ready import workers_answer
from tests.waiting import WAIT_S, allowance, arrives, wait_for

TICKETS = 40
BUYERS = 6
VOTERS = 30
STORM = allowance(TICKETS * 3 + BUYERS * 6 + VOTERS)


class DashboardView:
    """An organizer's subscription to `event.{id}.dashboard`: the snapshot, then each
    publication with when it arrived."""

    def __init__(self, raw: Raw, event_id: int) -> None:
        self.raw = raw
        self.channel = f"event.{event_id}.dashboard"
        self.latest: dict[str, Any] = {}
        self.arrivals: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        reply = await self.raw.subscribe(self.channel)
        assert reply["op"] == "subscribed", reply
        self.latest = reply["snapshot"]
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        while True:
            message = await self.raw.recv(timeout=STORM)
            if message["op"] == "pub":
                self.arrivals.append(time.monotonic())
                self.latest = message["data"]
            elif message["op"] == "subscribed":  # a resync from the hub
                self.latest = message["snapshot"]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def ground_truth(settings: Settings, event_id: int, minute: datetime) -> dict[str, Any]:
    """The dashboard's figures counted from PostgreSQL by other queries than the worker's."""

    async def rows(sql: str) -> list[Any]:
        return await db(settings, sql, event_id)

    present = await rows(
        """SELECT p.inside, p.entries, p.last_gate FROM ticket_presence p
           JOIN tickets t ON t.id = p.ticket_id WHERE t.event_id = $1"""
    )
    scans = await rows("SELECT status, reason, scanned_at FROM scans WHERE event_id = $1")
    orders = await rows("SELECT currency, amount_minor, ticket_ids FROM orders WHERE event_id = $1")
    seats = await rows("SELECT status FROM seats WHERE event_id = $1")
    polls = await rows("SELECT id FROM polls WHERE event_id = $1 AND status = 'open'")
    ballots = await rows(
        "SELECT b.poll_id FROM poll_ballots b JOIN polls p ON p.id = b.poll_id"
        " WHERE p.event_id = $1"
    )
    questions = await rows("SELECT state, answered FROM questions WHERE event_id = $1")
    gates: dict[str, int] = {}
    for p in present:
        if p["inside"]:
            gates[p["last_gate"]] = gates.get(p["last_gate"], 0) + 1
    rejections: dict[str, int] = {}
    revenue: dict[str, int] = {}
    for s in scans:
        if s["status"] == "rejected":
            rejections[s["reason"]] = rejections.get(s["reason"], 0) + 1
    for o in orders:
        revenue[o["currency"]] = revenue.get(o["currency"], 0) + o["amount_minor"]
    start = series_start(minute)
    return {
        "checked_in": sum(1 for p in present if p["entries"] > 0),
        "inside": sum(gates.values()),
        "inside_by_gate": dict(sorted(gates.items())),
        "scans_per_minute": list(
            per_minute(((s["scanned_at"], 1) for s in scans if s["scanned_at"] >= start), minute)
        ),
        "rejections": dict(sorted(rejections.items())),
        "offline_conflicts": sum(1 for s in scans if s["status"] == "conflict"),
        "sales": {
            "tickets": sum(len(o["ticket_ids"]) for o in orders),
            "orders": len(orders),
            "revenue": dict(sorted(revenue.items())),
        },
        "seats": {
            st: sum(1 for s in seats if s["status"] == st) for st in ("available", "held", "sold")
        },
        "polls": {
            "open": len(polls),
            "voters": {
                str(p["id"]): sum(1 for b in ballots if b["poll_id"] == p["id"])
                for p in sorted(polls, key=lambda p: p["id"])
            },
        },
        "questions": {
            "open": sum(1 for q in questions if q["state"] != "hidden" and not q["answered"])
        },
    }


async def _stored_at(settings: Settings, channel: str) -> list[datetime]:
    """When each publication of `channel` was stored in the history stream, in order."""
    assert settings.nats_url
    subjects = Subjects(settings.namespace)
    nc = await nats.connect(settings.nats_url)
    times: list[datetime] = []
    try:
        js, seq = nc.jetstream(), 1
        while True:
            try:
                msg = await js.get_msg(
                    subjects.history_stream, seq, subject=subjects.publish(channel), next=True
                )
            except NotFoundError:
                return times
            assert msg.time is not None and msg.seq is not None
            times.append(msg.time)
            seq = msg.seq + 1
    finally:
        await nc.close()


async def _flush(settings: Settings) -> int:
    """Empty every Redis key of the test's namespace, as a Redis restart without persistence."""
    assert settings.redis_url
    client = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(RedisKeys(settings.namespace).pattern())]
        return int(await client.delete(*keys)) if keys else 0
    finally:
        await client.aclose()


async def _scanner(staff: Raw, event_id: int, codes: list[str], rng: random.Random) -> None:
    """Entries, exits, re-entries at two gates, doubles (already_inside) and forgeries."""
    for code in codes:
        for gate, direction in rng.choice(
            [
                [("north", "in")],
                [("south", "in"), ("south", "in")],
                [("north", "in"), ("north", "out")],
            ]
        ):
            ok(
                await staff.call(
                    "checkin.scan",
                    {"event_id": event_id, "code": code, "gate": gate, "direction": direction},
                )
            )
    ok(
        await staff.call(
            "checkin.scan",
            {"event_id": event_id, "code": "forged", "gate": "north", "direction": "in"},
        )
    )


async def _buyer(raw: Raw, venue: Venue, rng: random.Random) -> None:
    """Holds of seats and GA places, each then confirmed, released or kept."""
    for _ in range(6):
        if rng.random() < 0.5:
            answer = await hold(
                raw, venue.event_id, ticket_type_id=venue.parter, quantity=rng.randint(1, 3)
            )
        else:
            answer = await hold(
                raw, venue.event_id, ticket_type_id=venue.ga, quantity=rng.randint(1, 2)
            )
        if answer["status"] != "held":
            continue
        then = rng.random()
        if then < 0.5:
            ok(await raw.call("seats.confirm", {"hold_id": answer["hold_id"]}))
        elif then < 0.75:
            ok(await raw.call("seats.release", {"hold_id": answer["hold_id"]}))


async def _voters(
    crowd: Crowd, server: Any, make_token: Any, event_id: int, poll_id: int, subs: range
) -> None:
    for i in subs:
        voter = await crowd.connect(
            server, make_token("attendee", sub=f"voter-{i}", events=[event_id])
        )
        ok(await voter.call("polls.vote", {"poll_id": poll_id, "choice": i % 2}))


def _figures(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The counted figures: all but the header and the people online."""
    return {k: v for k, v in dashboard.items() if k not in ("type", "event_id", "minute", "online")}


@pytest.mark.timeout(STORM + 6 * WAIT_S)
async def test_the_dashboard_equals_postgresql_after_a_storm_with_a_restart_and_a_flush(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    stop, stop_metrics = asyncio.Event(), asyncio.Event()
    names = sorted(set(WORKERS) - {"metrics"})
    loop = asyncio.get_running_loop()
    others = loop.create_task(run_workers(migrated, names, stop))
    metrics = loop.create_task(run_workers(migrated, ["metrics"], stop_metrics))
    crowd = Crowd(patience=STORM)
    view: DashboardView | None = None
    try:
        await workers_answer(migrated, names, running=others)
        server = await aiohttp_server(create_app(migrated))
        organizer = await crowd.connect(server, make_token("organizer"))
        venue = await make_venue(organizer, rows=3, seats=10, ga_quota=TICKETS + 12)
        event_id = venue.event_id
        ok(await organizer.call("gates.set", {"event_id": event_id, "gates": ["north", "south"]}))
        issued = ok(
            await organizer.call(
                "tickets.issue",
                {
                    "event_id": event_id,
                    "ticket_type_id": venue.ga,
                    "count": TICKETS,
                    "holder": "Amra H.",
                },
            )
        )
        codes = [t["code"] for t in issued["tickets"]]
        session = ok(
            await organizer.call("sessions.create", {"event_id": event_id, "title": "Keynote"})
        )
        poll = await make_poll(organizer, session["id"], "single", options=["A", "B"])
        await make_poll(organizer, session["id"], "single", options=["C", "D"])
        asker = await crowd.connect(server, make_token("attendee", sub="asker", events=[event_id]))
        asked = [
            ok(
                await asker.call(
                    "qa.ask", {"event_id": event_id, "session_id": session["id"], "text": q}
                )
            )
            for q in ("Why?", "How?", "When?")
        ]
        ok(
            await organizer.call(
                "qa.moderate",
                {"event_id": event_id, "question_id": asked[0]["id"], "action": "answered"},
            )
        )
        audience = [
            await crowd.connect(server, make_token("attendee", sub=f"fan-{i}", events=[event_id]))
            for i in range(3)
        ]
        for fan in audience:
            assert (await fan.subscribe(f"event.{event_id}.polls"))["op"] == "subscribed"
        staff = await crowd.connect(server, make_token("staff", events=[event_id]))
        buyers = [
            await crowd.connect(server, make_token("attendee", sub=f"buyer-{i}", events=[event_id]))
            for i in range(BUYERS)
        ]
        view = DashboardView(
            await crowd.connect(server, make_token("organizer", sub="screen")), event_id
        )
        await view.start()
        rng = random.Random(13)
        half = TICKETS // 2

        async def storm(part: int) -> None:
            await asyncio.gather(
                _scanner(staff, event_id, codes[part * half : (part + 1) * half], rng),
                *(_buyer(b, venue, rng) for b in buyers[part::2]),
                _voters(crowd, server, make_token, event_id, poll["id"], range(part, VOTERS, 2)),
            )

        await arrives(storm(0), what="the first half of the storm", timeout=STORM)
        stop_metrics.set()
        await arrives(metrics, what="the metrics worker to stop")
        assert await _flush(migrated) > 0
        second = loop.create_task(storm(1))
        metrics = loop.create_task(
            run_workers(migrated, ["metrics"], stop_metrics := asyncio.Event())
        )
        await arrives(second, what="the second half of the storm", timeout=STORM)
        for buyer in buyers:
            await buyer.ws.close()

        async def equal() -> bool:
            assert view is not None and not metrics.done()
            latest = view.latest
            truth = await ground_truth(migrated, event_id, datetime.fromisoformat(latest["minute"]))
            assert _figures(latest) == truth, (latest, truth)
            assert latest["online"] == {"attendee": 3, "staff": 0, "organizer": 1}, latest["online"]
            return True

        await wait_for(equal, what="the dashboard to equal PostgreSQL", timeout=2 * WAIT_S)
        # At most one publication a second, as JetStream stored them.
        stored = await _stored_at(migrated, view.channel)
        assert len(stored) >= 3 and len(view.arrivals) >= 2, stored
        assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(stored)), stored
        assert view.latest["sales"]["orders"] > 0 and view.latest["rejections"]
        assert (
            view.latest["inside"] > 0 and view.latest["polls"]["voters"][str(poll["id"])] == VOTERS
        )

        # Emptied again while quiet: a new subscriber's snapshot is counted from PostgreSQL.
        assert await _flush(migrated) > 0
        late = await crowd.connect(server, make_token("organizer", sub="late"))
        reply = await late.subscribe(f"event.{event_id}.dashboard")
        assert reply["op"] == "subscribed", reply
        minute = datetime.fromisoformat(reply["snapshot"]["minute"])
        assert _figures(reply["snapshot"]) == await ground_truth(migrated, event_id, minute)
    finally:
        if view is not None:
            await view.close()
        await crowd.close()
        stop.set()
        stop_metrics.set()
        await arrives(asyncio.gather(others, metrics), what="the workers to stop")


async def test_only_organizers_see_the_dashboard(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer, rows=1, seats=4)
    channel = f"event.{venue.event_id}.dashboard"
    for role in ("attendee", "staff"):
        raw = await connect(client, make_token(role, events=[venue.event_id]))
        reply = await raw.subscribe(channel)
        assert reply["op"] == "error" and reply["error"]["code"] == "forbidden", reply
    screen = await connect(client, make_token("organizer", sub="screen"))
    reply = await screen.subscribe(channel)
    assert reply["op"] == "subscribed", reply
    # The snapshot may predate the seat map by up to a second; a publication follows.
    await _until(screen, reply["snapshot"], lambda d: d["seats"]["available"] == 8)
    hold_id = ok(
        await organizer.call(
            "seats.hold", {"event_id": venue.event_id, "seat_ids": venue.seat_ids[:2]}
        )
    )["hold_id"]
    ok(await organizer.call("seats.confirm", {"hold_id": hold_id}))
    sold = await _until(screen, None, lambda d: d["seats"]["sold"] == 2)
    assert sold["seats"] == {"available": 6, "held": 0, "sold": 2}
    assert sold["sales"] == {"tickets": 2, "orders": 1, "revenue": {"BAM": 10000}}


async def _until(raw: Raw, first: dict[str, Any] | None, done: Any) -> dict[str, Any]:
    """The first dashboard (`first`, then each publication) for which `done` holds."""
    dashboard = first
    while dashboard is None or not done(dashboard):
        dashboard = (await raw.until("pub"))["data"]
    return dashboard
