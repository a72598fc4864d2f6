"""Stateful channels answer subscribe with a snapshot from the worker owning the state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.commands import encode_reply
from bilten.protocol.subjects import Subjects
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.hub.helpers import connect, create_event
from tests.ready import workers_answer
from tests.waiting import arrives


@pytest.fixture
async def workers(migrated: Settings) -> AsyncIterator[Settings]:
    """Every worker but the dashboards' owner (workers/metrics.py): this test stands in for it."""
    stop = asyncio.Event()
    names = sorted(set(WORKERS) - {"metrics"})
    task = asyncio.get_running_loop().create_task(run_workers(migrated, names, stop))
    await workers_answer(migrated, names, running=task)
    yield migrated
    stop.set()
    await arrives(task, what="the workers to stop")


async def test_snapshot_then_deltas(
    workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(create_app(workers))
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.dashboard"
    watcher = await connect(client, make_token("organizer", sub="screen"))
    # Organizers may not publish on stateful channels; the owning worker (a service) does.
    service = await connect(client, make_token("service", sub="dashboard-worker"))
    reply = await organizer.call("channels.publish", {"channel": channel, "data": {}})
    assert reply["error"]["code"] == "forbidden"

    reply = await watcher.subscribe(channel)
    assert reply["op"] == "error" and reply["error"]["code"] == "unavailable", reply

    # A stand-in for the dashboard worker: it owns the state, publishes
    # deltas on the channel and answers snapshot requests with the offset they reflect.
    assert workers.nats_url
    owner = await nats.connect(workers.nats_url)
    subjects = Subjects(workers.namespace)
    state = {"poll": 1, "votes": {"yes": 0, "no": 0}}
    position: dict[str, Any] = {"offset": 0, "epoch": ""}

    async def answer(msg: Any) -> None:
        assert orjson.loads(msg.data) == {"channel": channel}
        await msg.respond(encode_reply({"snapshot": state, **position}))

    await owner.subscribe(subjects.snapshot(channel), cb=answer)
    await owner.flush()  # the server knows the subscription before the hub asks
    try:
        for choice in ("yes", "yes", "no"):
            state["votes"][choice] += 1
            result = (
                await service.call(
                    "channels.publish", {"channel": channel, "data": {"vote": choice}}
                )
            )["result"]
            position = {"offset": result["offset"], "epoch": result["epoch"]}
        reply = await watcher.subscribe(channel)
        assert reply["op"] == "subscribed", reply
        assert reply["snapshot"] == {"poll": 1, "votes": {"yes": 2, "no": 1}}
        assert reply["offset"] == 3 and reply["recovered"] is False
        # The snapshot lags one delta behind: the hub fills in the delta after it.
        stale_state = {"poll": 1, "votes": {"yes": 2, "no": 1}}
        state = stale_state
        await service.call("channels.publish", {"channel": channel, "data": {"vote": "no"}})
        late = await connect(client, make_token("organizer", sub="late"))
        reply = await late.subscribe(channel)
        assert reply["snapshot"] == stale_state and reply["offset"] == 3
        follow = await late.until("pub")
        assert follow["offset"] == 4 and follow["data"] == {"vote": "no"}
        live = await watcher.until("pub")
        assert live["offset"] == 4
    finally:
        await owner.close()
