"""qa.upvote: once per attendee per question, across hubs and workers; withdrawing."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from tests.allocation.helpers import Crowd
from tests.hub.helpers import create_event
from tests.qa.conftest import Room, error, make_session, ok
from tests.ready import workers_answer
from tests.waiting import allowance, arrives

VOTERS = 60
TRIES = 3  # each voter sends its upvote this many times at once, each on its own socket


async def test_withdraw_and_upvote_again(room: Room) -> None:
    alice, bob = await room.attendee("alice"), await room.attendee("bob")
    asked = {"event_id": room.event_id, "session_id": room.session_id, "text": "Lunch?"}
    question = ok(await alice.call("qa.ask", asked))
    upvote = {"event_id": room.event_id, "question_id": question["id"]}
    withdraw = {**upvote, "withdraw": True}
    assert ok(await alice.call("qa.upvote", upvote)) == {
        "question_id": question["id"],
        "votes": 1,
        "upvoted": True,
    }
    assert ok(await bob.call("qa.upvote", upvote))["votes"] == 2
    refused = error(await alice.call("qa.upvote", upvote))
    assert (refused["code"], refused["details"]["question_id"]) == (
        "already_upvoted",
        question["id"],
    )
    assert ok(await alice.call("qa.upvote", withdraw)) == {
        "question_id": question["id"],
        "votes": 1,
        "upvoted": False,
    }
    assert error(await alice.call("qa.upvote", withdraw))["code"] == "not_upvoted"
    carol = await room.attendee("carol")  # never upvoted
    assert error(await carol.call("qa.upvote", withdraw))["code"] == "not_upvoted"
    assert ok(await alice.call("qa.upvote", upvote))["votes"] == 2
    where = {"event_id": room.event_id, "session_id": room.session_id}
    assert ok(await bob.call("qa.list", where))["questions"][0]["votes"] == 2


@pytest.mark.timeout(3 * allowance(VOTERS * TRIES))
async def test_concurrent_duplicate_upvotes_two_hubs_two_workers(
    workers: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """Every voter sends the same upvote several times at once through two hubs, served by
    two qa workers: each counts once, the rest are `already_upvoted`, the count is exact."""
    stop = asyncio.Event()
    extra = asyncio.get_running_loop().create_task(run_workers(workers, ["qa"], stop))
    crowd = Crowd(patience=allowance(VOTERS * TRIES))
    try:
        await workers_answer(workers, ["qa"], running=extra)
        hubs = [await aiohttp_server(create_app(workers)) for _ in range(2)]
        organizer = await crowd.connect(hubs[0], make_token("organizer"))
        event_id = await create_event(organizer)
        session_id = await make_session(organizer, event_id)
        asked = {"event_id": event_id, "session_id": session_id}
        first = ok(await organizer.call("qa.ask", {**asked, "text": "First?"}))
        second = ok(await organizer.call("qa.ask", {**asked, "text": "Second?"}))
        sockets = [
            [
                await crowd.connect(
                    hubs[k % 2], make_token("attendee", sub=f"voter-{n}", events=[event_id])
                )
                for k in range(TRIES)
            ]
            for n in range(VOTERS)
        ]

        async def vote(n: int, k: int) -> str:
            # Everyone upvotes the first question; the even voters the second one too.
            targets = [first["id"]] + ([second["id"]] if n % 2 == 0 else [])
            reply = await sockets[n][k].call(  # one socket per try
                "qa.upvote", {"event_id": event_id, "question_id": targets[k % len(targets)]}
            )
            return "ok" if reply["op"] == "result" else str(reply["error"]["code"])

        outcomes = Counter(
            await arrives(
                asyncio.gather(*(vote(n, k) for n in range(VOTERS) for k in range(TRIES))),
                what="every upvote answered",
                timeout=allowance(VOTERS * TRIES),
            )
        )
        # Odd voters: 3 tries at the first question; even voters: 2 at the first, 1 at the
        # second (k % 2 alternates the target). Each (voter, question) counts once.
        distinct = VOTERS + VOTERS // 2
        assert outcomes == {"ok": distinct, "already_upvoted": VOTERS * TRIES - distinct}
        listing = ok(await organizer.call("qa.list", asked))
        votes = {q["id"]: q["votes"] for q in listing["questions"]}
        assert votes == {first["id"]: VOTERS, second["id"]: VOTERS // 2}
        assert workers.database_url
        conn = await asyncpg.connect(workers.database_url)
        try:
            rows = await conn.fetch(
                "SELECT question_id, count(*) AS n FROM question_upvotes GROUP BY question_id"
            )
        finally:
            await conn.close()
        assert {r["question_id"]: r["n"] for r in rows} == votes
    finally:
        await crowd.close()
        stop.set()
        await arrives(extra, what="the extra qa worker to stop")
