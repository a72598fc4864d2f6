"""Concurrent voters with duplicates through two hubs and two engagement workers, and
Redis emptied mid-poll: the tally equals the distinct voters, and PostgreSQL's ballots."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.engagement.helpers import PollsView, make_poll, make_session, ok, vote
from tests.engagement.storm import Tally, check_answers, settles, voter
from tests.hub.helpers import connect
from tests.ready import workers_answer
from tests.waiting import WAIT_S, allowance, arrives

VOTERS = 300
SENDS = 2  # each voter's vote goes twice, through each hub
STORM, STORM_COMMAND = allowance(VOTERS * SENDS, per_operation=0.2), allowance(VOTERS)


async def _stack(migrated: Settings, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Every other worker, and two engagement workers, each with its own connections."""
    loop = asyncio.get_running_loop()
    others = [w for w in WORKERS if w != "engagement"]
    tasks = [loop.create_task(run_workers(migrated, others, stop))]
    tasks += [loop.create_task(run_workers(migrated, ["engagement"], stop)) for _ in range(2)]
    await workers_answer(migrated, sorted(WORKERS), running=tasks[0])
    return tasks


@pytest.mark.request_timeout(STORM_COMMAND)
@pytest.mark.timeout(STORM + 3 * WAIT_S)
@pytest.mark.parametrize("empty_redis", [False, True], ids=["duplicates", "redis-emptied"])
async def test_tally_equals_distinct_voters(
    migrated: Settings,
    aiohttp_server: Any,
    aiohttp_client: Any,
    make_token: Any,
    empty_redis: bool,
) -> None:
    stop = asyncio.Event()
    tasks = await _stack(migrated, stop)
    try:
        hubs = [await aiohttp_client(await aiohttp_server(create_app(migrated))) for _ in range(2)]
        organizer = await connect(hubs[0], make_token("organizer"))
        event_id, session_id = await make_session(organizer)
        watcher = await PollsView.start(
            await connect(hubs[1], make_token("attendee", sub="watcher", events=[event_id])),
            event_id,
        )
        poll = await make_poll(organizer, session_id, "single", options=["A", "B", "C"])
        tally = Tally()
        half = tally.reached(VOTERS)
        subs = [f"fan-{n}" for n in range(VOTERS)]

        async def emptier() -> None:
            await half.wait()
            if empty_redis:  # this test's keys only: the Redis is shared
                redis = aioredis.from_url(migrated.redis_url)
                try:
                    keys = [k async for k in redis.scan_iter(match=f"{migrated.namespace}:poll:*")]
                    assert keys
                    await redis.delete(*keys)
                finally:
                    await redis.aclose()

        await arrives(
            asyncio.gather(
                *(
                    voter(
                        hubs,
                        make_token("attendee", sub=sub, events=[event_id]),
                        sub,
                        poll["id"],
                        n % 3,
                        tally,
                        sends=SENDS,
                    )
                    for n, sub in enumerate(subs)
                ),
                emptier(),
            ),
            what=f"{VOTERS} voters' votes",
            timeout=STORM,
        )
        check_answers(tally, VOTERS, SENDS)
        await settles(migrated, organizer, watcher, poll["id"], VOTERS, 3)
    finally:
        stop.set()
        for task in tasks:
            await arrives(task, what="the workers to stop")


async def test_counters_left_behind_by_a_lost_redis_call_are_rebuilt(
    hub_server: Any, aiohttp_client: Any, make_token: Any, workers: Settings
) -> None:
    """A worker killed between its commit and its Redis call: ballots Redis never counted."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    watcher = await PollsView.start(
        await connect(client, make_token("attendee", sub="watcher", events=[event_id])), event_id
    )
    poll = await make_poll(organizer, session_id, "single", options=["A", "B"])
    fan = await connect(client, make_token("attendee", sub="fan", events=[event_id]))
    assert ok(await vote(fan, poll["id"], 1))["voted"]
    assert workers.database_url
    conn = await asyncpg.connect(workers.database_url)
    try:  # committed by a worker that died before counting
        await conn.execute(
            """INSERT INTO poll_ballots (poll_id, voter, choice)
               SELECT $1, 'ghost-' || n, '0' FROM generate_series(1, 5) AS n""",
            poll["id"],
        )
    finally:
        await conn.close()
    await settles(workers, organizer, watcher, poll["id"], 6, 2)
