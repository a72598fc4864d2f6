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
from tests.allocation.helpers import Crowd, make_venue, ok
from tests.hub.helpers import connect
from tests.metrics.helpers import figures, flush, ground_truth, stored_at, tells_the_truth, until
from tests.ready import workers_answer
from tests.storm import Stage, set_stage, storm_part
from tests.waiting import WAIT_S, allowance, arrives, wait_for

TICKETS = 40
BUYERS = 6
VOTERS = 30
STORM = allowance(TICKETS * 3 + BUYERS * 6 + VOTERS)


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
    stage: Stage | None = None
    try:
        await workers_answer(migrated, names, running=others)
        server = await aiohttp_server(create_app(migrated))
        stage = await set_stage(crowd, server, make_token, tickets=TICKETS, buyers=BUYERS)
        event_id, view = stage.event_id, stage.view
        rng = random.Random(13)

        async def storm(part: int) -> None:
            await storm_part(stage, crowd, server, make_token, part, rng, voters=VOTERS)

        await arrives(storm(0), what="the first half of the storm", timeout=STORM)
        stop_metrics.set()
        await arrives(metrics, what="the metrics worker to stop")
        assert await flush(migrated) > 0
        second = loop.create_task(storm(1))
        metrics = loop.create_task(
            run_workers(migrated, ["metrics"], stop_metrics := asyncio.Event())
        )
        await arrives(second, what="the second half of the storm", timeout=STORM)
        for raw in stage.buyers:
            await raw.ws.close()

        async def equal() -> bool:
            assert not metrics.done()
            online = view.latest["online"]
            assert online == {"attendee": 3, "staff": 0, "organizer": 1}, online
            return await tells_the_truth(migrated, view, event_id)

        await wait_for(equal, what="the dashboard to equal PostgreSQL", timeout=2 * WAIT_S)
        # At most one publication a second, as JetStream stored them.
        stored = await stored_at(migrated, view.channel)
        assert len(stored) >= 3 and len(view.arrivals) >= 2, stored
        assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(stored)), stored
        assert view.latest["sales"]["orders"] > 0 and view.latest["rejections"]
        assert (
            view.latest["inside"] > 0
            and view.latest["polls"]["voters"][str(stage.poll_id)] == VOTERS
        )

        # Emptied again while quiet: a new subscriber's snapshot is counted from PostgreSQL.
        assert await flush(migrated) > 0
        late = await crowd.connect(server, make_token("organizer", sub="late"))
        reply = await late.subscribe(f"event.{event_id}.dashboard")
        assert reply["op"] == "subscribed", reply
        minute = datetime.fromisoformat(reply["snapshot"]["minute"])
        assert figures(reply["snapshot"]) == await ground_truth(migrated, event_id, minute)
    finally:
        if stage is not None:
            await stage.view.close()
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
