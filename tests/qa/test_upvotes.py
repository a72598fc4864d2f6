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
from tests.waiting import allowance, arrives, wait_for

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


async def test_an_upvote_racing_a_hide_is_not_found(room: Room, workers: Settings) -> None:
    """An upvote decided while a moderation is hiding the question (its transaction holds
    the row) waits for it and then finds the question hidden: `not_found`, not counted."""
    alice, bob = await room.attendee("alice"), await room.attendee("bob")
    asked = {"event_id": room.event_id, "session_id": room.session_id, "text": "Hide me?"}
    question = ok(await alice.call("qa.ask", asked))
    assert workers.database_url
    moderation = await asyncpg.connect(workers.database_url)
    watcher = await asyncpg.connect(workers.database_url)
    try:
        hiding = moderation.transaction()
        await hiding.start()
        await moderation.execute("SELECT 1 FROM questions WHERE id = $1 FOR UPDATE", question["id"])
        upvote = asyncio.get_running_loop().create_task(
            bob.call("qa.upvote", {"event_id": room.event_id, "question_id": question["id"]})
        )
        holder = moderation.get_server_pid()
        await wait_for(
            lambda: watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                holder,
            ),
            what="the upvote to wait for the moderation's lock",
        )
        await moderation.execute(
            "UPDATE questions SET state = 'hidden' WHERE id = $1", question["id"]
        )
        await hiding.commit()
        assert error(await arrives(upvote, what="the upvote's answer"))["code"] == "not_found"
        assert (
            await watcher.fetchval(
                "SELECT count(*) FROM question_upvotes WHERE question_id = $1", question["id"]
            )
            == 0
        )
    finally:
        await moderation.close()
        await watcher.close()
    where = {"event_id": room.event_id, "session_id": room.session_id}
    shown = ok(await room.organizer.call("qa.list", where))
    assert [(q["state"], q["votes"]) for q in shown["questions"]] == [("hidden", 0)]
