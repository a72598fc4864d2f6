"""Issue 15: one worker of each kind killed with SIGKILL during a storm of scans, holds and
votes. Nothing answered is lost, nothing is applied twice, and the dashboard converges to
the truth.

The check-in, allocation and engagement workers run as two processes each (`bilten
worker NAME`), the rest in this process, behind one real hub. The clients send as real
ones do (tests/storm.py): nonces on scans and holds, a request answered `timeout` or
`unavailable` sent again unchanged. One process of each kind is killed once that kind
has answered its share of the storm: the check-in worker early, the allocation worker
midway, the engagement worker late.
"""

from __future__ import annotations

import asyncio
import random
import signal
from typing import Any

import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.workers.registry import WORKERS
from tests.allocation.helpers import Crowd
from tests.metrics.helpers import tells_the_truth
from tests.ready import (
    free_port,
    processes_answer,
    spawn_worker,
    stop_process,
    workers_running,
)
from tests.storm import Stage, check_storm, set_stage, storm_part
from tests.waiting import WAIT_S, allowance, arrives, wait_for

pytestmark = pytest.mark.faults

TICKETS = 60
BUYERS = 8
VOTERS = 60
DOORS = 3
STORM = allowance(TICKETS * 3 + BUYERS * 12 + VOTERS)
# The hub's budget for one command: a vote the killed worker took is answered `timeout`
# after it (then sent again); a scan or hold is resent by the hub after a third of it.
COMMAND_S = 15.0
# Each kind loses a process once it has answered this many of the storm's requests
# (of at least TICKETS scans, BUYERS * 6 holds and VOTERS votes).
KILLED_AFTER = {"checkin": TICKETS // 4, "allocation": BUYERS * 3, "engagement": VOTERS * 3 // 4}


@pytest.mark.request_timeout(COMMAND_S)
@pytest.mark.timeout(STORM + 8 * WAIT_S)
async def test_sigkill_of_one_worker_of_each_kind_mid_storm_loses_and_repeats_nothing(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    names = sorted(set(WORKERS) - set(KILLED_AFTER))
    ports = {kind: [free_port(), free_port()] for kind in KILLED_AFTER}
    procs = {kind: [spawn_worker(migrated, kind, p) for p in ports[kind]] for kind in ports}
    crowd = Crowd(patience=STORM)
    stage: Stage | None = None
    try:
        async with workers_running(migrated, names):
            for kind, kind_ports in ports.items():
                await processes_answer(migrated, kind, kind_ports)  # each victim was serving
            server = await aiohttp_server(create_app(migrated))
            stage = await set_stage(
                crowd, server, make_token, tickets=TICKETS, buyers=BUYERS, doors=DOORS
            )
            ledger, view, event_id = stage.ledger, stage.view, stage.event_id
            for kind, n in KILLED_AFTER.items():
                ledger.at(kind, n, procs[kind][0].kill)  # SIGKILL
            await arrives(
                storm_part(
                    stage, crowd, server, make_token, 0, random.Random(15), voters=VOTERS, parts=1
                ),
                what="the storm",
                timeout=STORM,
            )
            for kind, n in KILLED_AFTER.items():
                assert ledger.answered[kind] > n, (kind, ledger.answered)  # killed mid-storm
                victim, survivor = procs[kind]
                assert await asyncio.to_thread(victim.wait, WAIT_S) == -signal.SIGKILL, kind
                assert survivor.poll() is None, f"the other {kind} worker stopped"

            await check_storm(migrated, stage, crowd, server, make_token, voters=VOTERS)

            async def dashboard_true() -> bool:
                return await tells_the_truth(migrated, view, event_id)

            await wait_for(dashboard_true, what="the dashboard to equal PostgreSQL", timeout=STORM)
            latest = view.latest
            assert latest["polls"]["voters"][str(stage.poll_id)] == VOTERS
            assert latest["sales"]["orders"] == sum(
                1 for entry in ledger.holds if entry["end"] == "confirmed"
            )
    finally:
        if stage is not None:
            await stage.view.close()
        await crowd.close()
        for kind_procs in procs.values():
            for proc in kind_procs:
                stop_process(proc)
