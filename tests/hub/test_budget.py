"""The hub tells a worker how long it waits for each request (`budget_ms` on the wire), so
the worker can shed a request nobody waits for (tests/workers/test_shedding.py)."""

from __future__ import annotations

from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from bilten.hub.dispatch import RETRY_ATTEMPTS
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest, decode_request
from bilten.protocol.subjects import Subjects
from tests.hub.helpers import EVENT
from tests.waiting import wait_for


@pytest.mark.request_timeout(40.0)
async def test_each_request_carries_what_its_hub_attempt_waits(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    subjects = Subjects(workers.namespace)
    seen: list[CommandRequest] = []

    async def note(msg: Msg) -> None:
        seen.append(decode_request(msg.data))

    watcher = await nats.connect(workers.nats_url)
    try:
        # A plain subscriber sees every request the workers' queue group is offered.
        for method in ("events.create", "checkin.bundle"):
            await watcher.subscribe(subjects.command(method), cb=note)
        await watcher.flush()
        client = await aiohttp_client(hub_server)
        headers = {"Authorization": f"Bearer {make_token('organizer')}"}
        created = await client.post("/api/v1/events", json=EVENT, headers=headers)
        assert created.status == 201, await created.text()
        event_id = (await created.json())["id"]
        bundle = await client.get(f"/api/v1/events/{event_id}/checkin-bundle", headers=headers)
        assert bundle.status == 200, await bundle.text()
        await wait_for(lambda: len(seen) == 2, what="both requests on the wire")
    finally:
        await watcher.close()
    budgets = {request.method: request.budget_s for request in seen}
    # A command tried once waits the hub's whole request budget; a retry-safe one
    # (checkin.bundle: its own 30 s, below this hub's 40 s) waits a third per attempt.
    assert budgets == {
        "events.create": 40.0,
        "checkin.bundle": pytest.approx(40.0 / RETRY_ATTEMPTS, abs=0.001),  # sent in ms
    }
