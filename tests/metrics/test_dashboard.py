"""The live dashboard: equal to PostgreSQL once quiet, whatever was lost on the way; at
most one publication a second; organizers only."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.allocation.helpers import Crowd, Venue, hold, make_venue, ok
from tests.engagement.helpers import make_poll
from tests.hub.helpers import Raw, connect
from tests.metrics.helpers import DashboardView, figures, flush, ground_truth, stored_at, until
from tests.ready import workers_answer
from tests.waiting import WAIT_S, allowance, arrives, wait_for

TICKETS = 40
BUYERS = 6
VOTERS = 30
STORM = allowance(TICKETS * 3 + BUYERS * 6 + VOTERS)


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


@pytest.mark.timeout(STORM + 6 * WAIT_S)
async def test_the_dashboard_equals_postgresql_after_a_storm_with_a_restart_and_aflush(
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
            await crowd.connect(server, make_token("organizer", sub="screen")), event_id, STORM
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
        assert await flush(migrated) > 0
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
            assert figures(latest) == truth, (latest, truth)
            assert latest["online"] == {"attendee": 3, "staff": 0, "organizer": 1}, latest["online"]
            return True

        await wait_for(equal, what="the dashboard to equal PostgreSQL", timeout=2 * WAIT_S)
        # At most one publication a second, as JetStream stored them.
        stored = await stored_at(migrated, view.channel)
        assert len(stored) >= 3 and len(view.arrivals) >= 2, stored
        assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(stored)), stored
        assert view.latest["sales"]["orders"] > 0 and view.latest["rejections"]
        assert (
            view.latest["inside"] > 0 and view.latest["polls"]["voters"][str(poll["id"])] == VOTERS
        )

        # Emptied again while quiet: a new subscriber's snapshot is counted from PostgreSQL.
        assert await flush(migrated) > 0
        late = await crowd.connect(server, make_token("organizer", sub="late"))
        reply = await late.subscribe(f"event.{event_id}.dashboard")
        assert reply["op"] == "subscribed", reply
        minute = datetime.fromisoformat(reply["snapshot"]["minute"])
        assert figures(reply["snapshot"]) == await ground_truth(migrated, event_id, minute)
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
    await until(screen, reply["snapshot"], lambda d: d["seats"]["available"] == 8)
    hold_id = ok(
        await organizer.call(
            "seats.hold", {"event_id": venue.event_id, "seat_ids": venue.seat_ids[:2]}
        )
    )["hold_id"]
    ok(await organizer.call("seats.confirm", {"hold_id": hold_id}))
    sold = await until(screen, None, lambda d: d["seats"]["sold"] == 2)
    assert sold["seats"] == {"available": 6, "held": 0, "sold": 2}
    assert sold["sales"] == {"tickets": 2, "orders": 1, "revenue": {"BAM": 10000}}
