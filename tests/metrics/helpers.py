"""Watching the dashboard in tests: a subscriber, the ground truth counted from PostgreSQL
by other queries than the worker's, when JetStream stored each publication, and a Redis
flush. The storm it watches is tests/storm.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any

import nats
import redis.asyncio as aioredis
from nats.js.errors import NotFoundError

from bilten.infra.keys import RedisKeys
from bilten.infra.settings import Settings
from bilten.protocol.dashboard import per_minute, series_start
from bilten.protocol.subjects import Subjects
from tests.allocation.helpers import db
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


async def tells_the_truth(settings: Settings, view: DashboardView, event_id: int) -> bool:
    """Whether the latest dashboard's figures equal PostgreSQL's (else AssertionError: how)."""
    latest = view.latest
    truth = await ground_truth(settings, event_id, datetime.fromisoformat(latest["minute"]))
    assert figures(latest) == truth, (latest, truth)
    return True


async def until(raw: Raw, first: dict[str, Any] | None, done: Any) -> dict[str, Any]:
    """The first dashboard (`first`, then each publication) for which `done` holds."""
    dashboard = first
    while dashboard is None or not done(dashboard):
        dashboard = (await raw.until("pub"))["data"]
    return dashboard
