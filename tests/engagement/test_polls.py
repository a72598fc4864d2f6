"""Every poll kind counted, every refusal a vote can get, and on_close results hidden."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from bilten.infra.settings import Settings
from tests.engagement.helpers import PollsView, error, make_poll, make_session, ok, vote
from tests.hub.helpers import Raw, connect
from tests.waiting import arrives, wait_for


async def _voters(client: Any, make_token: Any, event_id: int, n: int) -> list[Raw]:
    return [
        await connect(client, make_token("attendee", sub=f"fan-{i}", events=[event_id]))
        for i in range(n)
    ]


async def test_each_kind_tallies_in_its_own_shape(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    fans = await _voters(client, make_token, event_id, 3)
    three = ["Red", "Green", "Blue"]
    cases: list[tuple[str, dict[str, Any], list[Any], dict[str, Any]]] = [
        ("single", {"options": three}, [0, 2, 2], {"counts": [1, 0, 2]}),
        ("multiple", {"options": three}, [[0, 1], [1], [2, 1]], {"counts": [1, 3, 1]}),
        ("rating", {}, [5, 4, 4], {"counts": [0, 0, 0, 2, 1], "average": 4.33}),
        (
            "words",
            {},
            ["  Jazz\tHands ", "jazz hands", "BLUES"],
            {"words": [{"word": "jazz hands", "count": 2}, {"word": "blues", "count": 1}]},
        ),
        (
            "ranking",
            {"options": three},
            [[2, 0, 1], [2, 1, 0], [0, 2, 1]],
            {"points": [3, 1, 5], "order": [2, 0, 1]},
        ),
    ]
    for kind, definition, choices, expected in cases:
        poll = await make_poll(organizer, session_id, kind, **definition)
        for fan, choice in zip(fans, choices, strict=True):
            assert ok(await vote(fan, poll["id"], choice)) == {"poll_id": poll["id"], "voted": True}
        tally = ok(await organizer.call("polls.results", {"poll_id": poll["id"]}))["tally"]
        assert tally == {"voters": 3, **expected}, kind
        seen = ok(await fans[0].call("polls.get", {"poll_id": poll["id"]}))
        assert seen["tally"] == tally, kind  # live results: attendees see them too


async def test_every_refusal_has_its_code(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    fan = (await _voters(client, make_token, event_id, 1))[0]
    single = await make_poll(organizer, session_id, "single", options=["Yes", "No"])
    ranking = await make_poll(organizer, session_id, "ranking", options=["A", "B", "C"])
    multiple = await make_poll(organizer, session_id, "multiple", options=["A", "B"])
    rating = await make_poll(organizer, session_id, "rating")
    words = await make_poll(organizer, session_id, "words")
    ok(
        await organizer.call(
            "polls.blocklist.set", {"event_id": event_id, "words": ["Darn", "heck"]}
        )
    )
    assert ok(await organizer.call("polls.blocklist", {"event_id": event_id}))["words"] == [
        "darn",
        "heck",
    ]
    refused = [
        (single["id"], 2, "option"),
        (single["id"], [0], "option"),
        (ranking["id"], [0, 1], "incomplete"),
        (ranking["id"], [0, 1, 1], "repeated"),
        (multiple["id"], [], "empty"),
        (rating["id"], 6, "rating"),
        (rating["id"], 0, "rating"),
        (words["id"], "  ", "word"),
        (words["id"], "x" * 41, "word"),
        (words["id"], "oh DARN it", "blocked"),
    ]
    for poll_id, choice, reason in refused:
        refusal = error(await vote(fan, poll_id, choice))
        assert (refusal["code"], refusal["details"]["reason"]) == ("bad_choice", reason), choice
    assert ok(await vote(fan, single["id"], 1))["voted"]
    assert error(await vote(fan, single["id"], 0))["code"] == "already_voted"
    draft = await make_poll(organizer, session_id, "single", open_=False, options=["A", "B"])
    assert error(await vote(fan, draft["id"], 0))["code"] == "poll_closed"
    ok(await organizer.call("polls.close", {"poll_id": multiple["id"]}))
    assert error(await vote(fan, multiple["id"], [0]))["code"] == "poll_closed"
    assert error(await vote(fan, 10**9, 0))["code"] == "not_found"
    # Another event's attendee does not reach the poll at all.
    other = await connect(client, make_token("attendee", sub="fan-x", events=[event_id + 1000]))
    assert error(await vote(other, single["id"], 0))["code"] == "not_found"
    # Voters do not manage, and a running poll's definition is fixed.
    assert error(await fan.call("polls.open", {"poll_id": draft["id"]}))["code"] == "forbidden"
    changed = await organizer.call("polls.update", {"poll_id": single["id"], "options": ["A", "B"]})
    assert error(changed)["code"] == "conflict"
    bad = await organizer.call(
        "polls.create",
        {"session_id": session_id, "question": "?", "kind": "rating", "options": ["A"]},
    )
    assert error(bad)["code"] == "bad_request"
    # After a reset the poll is a draft without ballots, and the same voter may vote again.
    reset = ok(await organizer.call("polls.reset", {"poll_id": single["id"]}))
    assert (reset["status"], reset["tally"]["voters"]) == ("draft", 0)
    ok(await organizer.call("polls.open", {"poll_id": single["id"]}))
    assert ok(await vote(fan, single["id"], 0))["voted"]


async def test_on_close_results_stay_hidden_from_attendees_until_revealed(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    fans = await _voters(client, make_token, event_id, 2)
    watcher = await PollsView.start(
        await connect(client, make_token("attendee", sub="watcher", events=[event_id])), event_id
    )
    poll = await make_poll(
        organizer, session_id, "single", options=["Yes", "No"], results="on_close"
    )
    for fan in fans:
        ok(await vote(fan, poll["id"], 0))
    pid = poll["id"]
    counts = ok(await organizer.call("polls.results", {"poll_id": pid}))["tally"]["counts"]
    assert counts == [2, 0]  # organizers always see counts
    assert ok(await fans[0].call("polls.get", {"poll_id": pid}))["tally"] is None
    listed = ok(await fans[0].call("polls.list", {"event_id": event_id}))["polls"]
    assert [p["tally"] for p in listed] == [None]
    ok(await organizer.call("polls.close", {"poll_id": pid}))
    await watcher.until(lambda v: v.polls.get(pid, {}).get("status") == "closed", "closed")
    assert watcher.polls[pid]["tally"] is None  # closed, not yet revealed
    late = await PollsView.start(
        await connect(client, make_token("attendee", sub="late", events=[event_id])), event_id
    )
    assert late.polls[pid]["status"] == "closed" and late.polls[pid]["tally"] is None
    ok(await organizer.call("polls.reveal", {"poll_id": pid}))
    await watcher.until(lambda v: v.polls[pid]["revealed"], "the reveal")
    assert watcher.polls[pid]["tally"] == {"voters": 2, "counts": [2, 0]}
    assert ok(await fans[1].call("polls.get", {"poll_id": pid}))["tally"]["counts"] == [2, 0]


async def test_sessions_are_edited_listed_and_deleted_with_their_polls(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    fan = (await _voters(client, make_token, event_id, 1))[0]
    watcher = await PollsView.start(
        await connect(client, make_token("attendee", sub="watcher", events=[event_id])), event_id
    )
    times = {"starts_at": "2027-06-01T20:00:00+02:00", "ends_at": "2027-06-01T19:00:00+02:00"}
    backwards = await organizer.call("sessions.update", {"session_id": session_id, **times})
    assert error(backwards)["code"] == "bad_request"
    edited = ok(
        await organizer.call(
            "sessions.update", {"session_id": session_id, "title": "Opening", "room": None}
        )
    )
    assert (edited["title"], edited["room"]) == ("Opening", None)
    assert ok(await fan.call("sessions.list", {"event_id": event_id}))["sessions"] == [edited]
    poll = await make_poll(organizer, session_id, "rating")
    ok(await vote(fan, poll["id"], 4))
    await watcher.until(lambda v: poll["id"] in v.polls, "the poll")
    refused = await fan.call("sessions.delete", {"session_id": session_id})
    assert error(refused)["code"] == "forbidden"
    ok(await organizer.call("sessions.delete", {"session_id": session_id}))
    await watcher.until(lambda v: poll["id"] in v.deleted, "the poll's deletion")
    assert error(await fan.call("polls.get", {"poll_id": poll["id"]}))["code"] == "not_found"
    assert ok(await fan.call("sessions.list", {"event_id": event_id}))["sessions"] == []


async def test_punctuation_does_not_hide_a_blocked_word(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """A blocked word stays blocked next to punctuation or inside a blocked phrase; words
    that merely contain it are still counted."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    blocklist = {"event_id": event_id, "words": ["darn", "Bad Word", "f*ck"]}
    ok(await organizer.call("polls.blocklist.set", blocklist))
    poll = await make_poll(organizer, session_id, "words")
    refused = ["darn!", "DARN-it", "(darn)", "so...darn", "a bad word", "bad, word!", "f*ck"]
    accepted = ["darning", "badword", "bad words", "word bad", "fck"]
    fans = await _voters(client, make_token, event_id, len(refused) + len(accepted))
    for fan, answer in zip(fans, refused + accepted, strict=True):
        reply = await vote(fan, poll["id"], answer)
        if answer in refused:
            assert (error(reply)["code"], error(reply)["details"]["reason"]) == (
                "bad_choice",
                "blocked",
            ), answer
        else:
            assert ok(reply)["voted"], answer
    tally = ok(await organizer.call("polls.results", {"poll_id": poll["id"]}))["tally"]
    assert sorted(w["word"] for w in tally["words"]) == sorted(accepted)


async def test_a_choice_of_the_right_type_is_refused_as_bad_choice(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Whatever the value, an integer, a text or a list of integers is judged against the
    poll (`bad_choice` with its reason); only what no poll could take is `bad_request`."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    fan = (await _voters(client, make_token, event_id, 1))[0]
    single = await make_poll(organizer, session_id, "single", options=["Yes", "No"])
    rating = await make_poll(organizer, session_id, "rating")
    ranking = await make_poll(organizer, session_id, "ranking", options=["A", "B", "C"])
    words = await make_poll(organizer, session_id, "words")
    refused = [
        (single["id"], 25, "option"),
        (single["id"], -1, "option"),
        (single["id"], 2**62, "option"),
        (rating["id"], 100, "rating"),
        (rating["id"], -5, "rating"),
        (ranking["id"], [0, 1, 99], "option"),
        (ranking["id"], [2, 1, -1], "option"),
        (words["id"], "x" * 41, "word"),
        (words["id"], 7, "word"),
        (single["id"], "Yes", "option"),
    ]
    for poll_id, choice, reason in refused:
        refusal = error(await vote(fan, poll_id, choice))
        got = (refusal["code"], refusal["details"].get("reason"))
        assert got == ("bad_choice", reason), choice
    for choice in (True, 1.5, {"option": 0}, None, [[0]], ["0"]):
        refusal = error(await vote(fan, single["id"], choice))
        assert (refusal["code"], refusal["details"]["field"]) == ("bad_request", "choice"), choice
    # White space is collapsed before the length counts: a long spaced-out answer is fine.
    assert ok(await vote(fan, words["id"], "  jazz" + " " * 100 + "hands  "))["voted"]


async def test_options_that_look_the_same_are_refused(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Two options a voter cannot tell apart (composed and decomposed accents, full-width
    letters, case, inner white space) would split one answer's votes: `bad_request`."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    _, session_id = await make_session(organizer)
    base = {"session_id": session_id, "question": "Which?", "kind": "single"}
    for options in (["Caf\u00e9", "Cafe\u0301"], ["Yes", "ＹＥＳ"], ["New  York", "new york"]):
        refusal = error(await organizer.call("polls.create", {**base, "options": options}))
        assert (refusal["code"], refusal["details"]["field"]) == ("bad_request", "options")
    draft = ok(await organizer.call("polls.create", {**base, "options": ["Café", "Cafe"]}))
    changed = {"poll_id": draft["id"], "options": ["Café", "Cafe\u0301"]}
    assert error(await organizer.call("polls.update", changed))["code"] == "bad_request"


async def test_a_poll_created_while_its_session_is_deleted_is_not_found(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """polls.create racing sessions.delete (whose transaction holds the session) waits for
    it and answers `not_found`, not `internal`; no poll is left behind."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    assert workers.database_url
    deleting = await asyncpg.connect(workers.database_url)
    watcher = await asyncpg.connect(workers.database_url)
    try:
        deletion = deleting.transaction()
        await deletion.start()
        await deleting.execute("SELECT 1 FROM event_sessions WHERE id = $1 FOR UPDATE", session_id)
        params = {"session_id": session_id, "question": "Late?", "kind": "rating"}
        creating = asyncio.get_running_loop().create_task(organizer.call("polls.create", params))
        holder = deleting.get_server_pid()
        await wait_for(
            lambda: watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                holder,
            ),
            what="polls.create to wait for the session's deletion",
        )
        await deleting.execute("DELETE FROM event_sessions WHERE id = $1", session_id)
        await deletion.commit()
        refused = error(await arrives(creating, what="the polls.create answer"))
        assert refused["code"] == "not_found"
        assert await watcher.fetchval("SELECT count(*) FROM polls") == 0
    finally:
        await deleting.close()
        await watcher.close()
    assert ok(await organizer.call("polls.list", {"event_id": event_id}))["polls"] == []
