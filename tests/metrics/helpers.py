"""Watching the dashboard in tests: a subscriber, the ground truth counted from PostgreSQL
by other queries than the worker's, when JetStream stored each publication, a Redis
flush, and a storm of scans, holds and votes on a stage set for it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
import redis.asyncio as aioredis
from nats.js.errors import NotFoundError

from bilten.infra.keys import RedisKeys
from bilten.infra.settings import Settings
from bilten.protocol.dashboard import per_minute, series_start
from bilten.protocol.subjects import Subjects
from tests.allocation.helpers import Crowd, Venue, db, hold, make_venue, ok
from tests.engagement.helpers import make_poll
from tests.hub.helpers import Raw


class DashboardView:
    """An organizer's subscription to `event.{id}.dashboard`: the snapshot, then each
    publication with when it arrived."""

    def __init__(self, raw: Raw, event_id: int, patience: float) -> None:
        self.raw = raw
        self.patience = patience
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
            message = await self.raw.recv(timeout=self.patience)
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


async def stored_at(settings: Settings, channel: str) -> list[datetime]:
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


async def flush(settings: Settings) -> int:
    """Empty every Redis key of the test's namespace, as a Redis restart without persistence."""
    assert settings.redis_url
    client = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(RedisKeys(settings.namespace).pattern())]
        return int(await client.delete(*keys)) if keys else 0
    finally:
        await client.aclose()


def figures(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The counted figures: all but the header and the people online."""
    return {k: v for k, v in dashboard.items() if k not in ("type", "event_id", "minute", "online")}


async def until(raw: Raw, first: dict[str, Any] | None, done: Any) -> dict[str, Any]:
    """The first dashboard (`first`, then each publication) for which `done` holds."""
    dashboard = first
    while dashboard is None or not done(dashboard):
        dashboard = (await raw.until("pub"))["data"]
    return dashboard


async def scanner(staff: Raw, event_id: int, codes: list[str], rng: random.Random) -> None:
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


async def buyer(raw: Raw, venue: Venue, rng: random.Random) -> None:
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


async def vote_all(
    crowd: Crowd, server: Any, make_token: Any, event_id: int, poll_id: int, subs: range
) -> None:
    """Attendees `voter-{i}` for i in `subs`, each voting once (A or B by turns)."""
    for i in subs:
        voter = await crowd.connect(
            server, make_token("attendee", sub=f"voter-{i}", events=[event_id])
        )
        ok(await voter.call("polls.vote", {"poll_id": poll_id, "choice": i % 2}))


@dataclass(slots=True)
class Stage:
    """An event set up for a storm: its venue, tickets, an open poll, the people, the screen."""

    venue: Venue
    codes: list[str]
    poll_id: int
    staff: Raw
    buyers: list[Raw]
    audience: list[Raw]  # kept: three attendees online on the dashboard
    view: DashboardView

    @property
    def event_id(self) -> int:
        return self.venue.event_id


async def set_stage(
    crowd: Crowd, server: Any, make_token: Any, *, tickets: int, buyers: int
) -> Stage:
    """Two gates, `tickets` GA tickets, two open polls, three questions (one answered),
    three attendees on the polls channel, a door, `buyers` buyers and an organizer's
    screen already watching the dashboard."""
    organizer = await crowd.connect(server, make_token("organizer"))
    venue = await make_venue(organizer, rows=3, seats=10, ga_quota=tickets + 12)
    event_id = venue.event_id
    ok(await organizer.call("gates.set", {"event_id": event_id, "gates": ["north", "south"]}))
    issued = ok(
        await organizer.call(
            "tickets.issue",
            {
                "event_id": event_id,
                "ticket_type_id": venue.ga,
                "count": tickets,
                "holder": "Amra H.",
            },
        )
    )
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
    people = [
        await crowd.connect(server, make_token("attendee", sub=f"buyer-{i}", events=[event_id]))
        for i in range(buyers)
    ]
    screen = await crowd.connect(server, make_token("organizer", sub="screen"))
    view = DashboardView(screen, event_id, crowd.patience)
    await view.start()
    codes = [t["code"] for t in issued["tickets"]]
    return Stage(venue, codes, poll["id"], staff, people, audience, view)


async def storm_part(
    stage: Stage,
    crowd: Crowd,
    server: Any,
    make_token: Any,
    part: int,
    rng: random.Random,
    *,
    voters: int,
) -> None:
    """Half the storm (`part` 0 or 1): half the tickets scanned, half the buyers and half
    the voters, all at once."""
    half = len(stage.codes) // 2
    await asyncio.gather(
        scanner(stage.staff, stage.event_id, stage.codes[part * half : (part + 1) * half], rng),
        *(buyer(b, stage.venue, rng) for b in stage.buyers[part::2]),
        vote_all(crowd, server, make_token, stage.event_id, stage.poll_id, range(part, voters, 2)),
    )
