"""Quizzes: the answer hidden until the question closes, points that fall with answer time,
a leaderboard on the polls channel and each player's own rank on their user channel."""

from __future__ import annotations

from typing import Any

from tests.engagement.helpers import PollsView, error, make_poll, make_session, ok, vote
from tests.hub.helpers import connect


async def test_quiz_scores_leaderboard_and_time_limit(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    players = {
        sub: await connect(client, make_token("attendee", sub=sub, events=[event_id]))
        for sub in ("ana", "ben", "cem")
    }
    own = {}
    for sub, raw in players.items():
        reply = await raw.subscribe(f"user.{sub}")
        assert reply["op"] == "subscribed", reply
        own[sub] = raw
    watcher = await PollsView.start(
        await connect(client, make_token("attendee", sub="screen", events=[event_id])), event_id
    )
    question = {"options": ["Sarajevo", "Mostar", "Tuzla"], "correct": 0, "time_limit_s": 600}
    first = await make_poll(organizer, session_id, "quiz", **question)
    assert first["correct"] == 0  # the organizer sees the answer
    seen = ok(await players["ana"].call("polls.get", {"poll_id": first["id"]}))
    assert seen["correct"] is None  # attendees do not, while it runs

    assert ok(await vote(players["ana"], first["id"], 0))["voted"]
    assert ok(await vote(players["ben"], first["id"], 0))["voted"]  # right, but later
    assert ok(await vote(players["cem"], first["id"], 2))["voted"]  # wrong
    ok(await organizer.call("polls.close", {"poll_id": first["id"]}))
    await watcher.until(lambda v: bool(v.other), "the leaderboard")
    board = watcher.other[-1]
    assert board["type"] == "leaderboard" and board["players"] == 3
    top = {entry["sub"]: entry for entry in board["top"]}
    assert [entry["sub"] for entry in board["top"]][2] == "cem"
    assert 1000 >= top["ana"]["score"] >= top["ben"]["score"] >= 500
    assert top["cem"]["score"] == 0 and top["cem"]["rank"] == 3
    for sub, raw in own.items():
        message = await raw.until("pub")
        assert message["channel"] == f"user.{sub}"
        assert message["data"]["type"] == "quiz_rank"
        assert message["data"]["rank"] == top[sub]["rank"]
        assert message["data"]["score"] == top[sub]["score"]
    closed = ok(await players["cem"].call("polls.get", {"poll_id": first["id"]}))
    assert closed["correct"] == 0 and closed["tally"]["counts"] == [2, 0, 1]

    # A question whose time runs out closes by itself; a late answer is refused.
    short = await make_poll(organizer, session_id, "quiz", **{**question, "time_limit_s": 5})
    await watcher.until(
        lambda v: v.polls.get(short["id"], {}).get("status") == "closed",
        "the question to close when its time is up",
    )
    late = await connect(client, make_token("attendee", sub="late", events=[event_id]))
    assert error(await vote(late, short["id"], 0))["code"] == "poll_closed"
    await watcher.until(lambda v: len(v.other) == 2, "the second leaderboard")
