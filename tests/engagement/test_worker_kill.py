"""An engagement worker killed with SIGKILL mid-storm: no vote lost, none counted twice."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.engagement.helpers import PollsView, make_poll, make_session
from tests.engagement.storm import Tally, check_answers, settles, voter
from tests.hub.helpers import connect
from tests.ready import free_port, processes_answer, spawn_worker, stop_process, workers_answer
from tests.waiting import WAIT_S, allowance, arrives

VOTERS = 300
SENDS = 2
STORM = allowance(VOTERS * SENDS, per_operation=0.2)
# A vote the killed worker took is answered `timeout` after this, then sent again.
COMMAND_S = 15.0


@pytest.mark.request_timeout(COMMAND_S)
@pytest.mark.timeout(STORM + 3 * WAIT_S)
async def test_sigkill_of_an_engagement_worker_loses_no_vote(
    migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    stop = asyncio.Event()
    names = [w for w in WORKERS if w != "engagement"]
    others = asyncio.get_running_loop().create_task(run_workers(migrated, names, stop))
    ports = [free_port() for _ in range(2)]
    victims = [spawn_worker(migrated, "engagement", port) for port in ports]
    try:
        await workers_answer(migrated, names, running=others)
        await processes_answer(migrated, "engagement", ports)  # the victim was serving
        hub = await aiohttp_client(await aiohttp_server(create_app(migrated)))
        organizer = await connect(hub, make_token("organizer"))
        event_id, session_id = await make_session(organizer)
        watcher = await PollsView.start(
            await connect(hub, make_token("attendee", sub="watcher", events=[event_id])),
            event_id,
        )
        poll = await make_poll(organizer, session_id, "single", options=["A", "B", "C"])
        tally = Tally()
        quarter = tally.reached(VOTERS * SENDS // 4)

        async def killer() -> int:
            await quarter.wait()
            victims[0].send_signal(signal.SIGKILL)
            return tally.done

        _, killed_at = await arrives(
            asyncio.gather(
                asyncio.gather(
                    *(
                        voter(
                            [hub],
                            make_token("attendee", sub=f"fan-{n}", events=[event_id]),
                            f"fan-{n}",
                            poll["id"],
                            n % 3,
                            tally,
                            sends=SENDS,
                        )
                        for n in range(VOTERS)
                    )
                ),
                killer(),
            ),
            what=f"{VOTERS} voters' votes",
            timeout=STORM,
        )
        assert killed_at < VOTERS * SENDS  # mid-storm
        assert victims[0].wait(WAIT_S) == -signal.SIGKILL
        check_answers(tally, VOTERS, SENDS)
        await settles(migrated, organizer, watcher, poll["id"], VOTERS, 3)
    finally:
        for proc in victims:
            stop_process(proc)
        stop.set()
        await arrives(others, what="the in-process workers to stop")
