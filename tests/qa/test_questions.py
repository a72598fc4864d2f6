"""Asking, listing, moderating: who sees which question, and every refusal by its code."""

from __future__ import annotations

from typing import Any

import asyncpg

from bilten.infra.settings import Settings
from bilten.protocol.qa import ASK_LIMIT, MAX_QUESTION
from tests.hub.helpers import connect, create_event
from tests.qa.conftest import Room, error, make_session, ok


def _ask(room: Room, text: str, **more: Any) -> dict[str, Any]:
    return {"event_id": room.event_id, "session_id": room.session_id, "text": text, **more}


def _texts(listing: dict[str, Any]) -> list[str]:
    return [q["text"] for q in listing["questions"]]


async def test_ask_and_list_in_order(room: Room) -> None:
    alice, bob = await room.attendee("alice"), await room.attendee("bob")
    first = ok(await alice.call("qa.ask", _ask(room, "  Will the slides be shared?  ")))
    assert first["text"] == "Will the slides be shared?"
    assert (first["author"], first["state"], first["votes"]) == ("alice", "visible", 0)
    second = ok(await bob.call("qa.ask", _ask(room, "Is there a recording?")))
    third = ok(await bob.call("qa.ask", _ask(room, "What about Bosnian subtitles?")))
    ok(await alice.call("qa.upvote", {"event_id": room.event_id, "question_id": third["id"]}))
    where = {"event_id": room.event_id, "session_id": room.session_id}
    listing = ok(await alice.call("qa.list", where))
    assert [q["id"] for q in listing["questions"]] == [third["id"], first["id"], second["id"]]
    ok(
        await room.organizer.call(
            "qa.moderate",
            {"event_id": room.event_id, "question_id": second["id"], "action": "pin"},
        )
    )
    listing = ok(await bob.call("qa.list", where))
    assert [q["id"] for q in listing["questions"]] == [second["id"], third["id"], first["id"]]
    assert listing["questions"][0]["pinned"]


async def test_anonymous_asker_is_never_revealed(room: Room, workers: Settings) -> None:
    alice = await room.attendee("alice")
    asked = ok(await alice.call("qa.ask", _ask(room, "Who decides the budget?", anonymous=True)))
    assert asked["author"] is None
    where = {"event_id": room.event_id, "session_id": room.session_id}
    for reader in (room.organizer, alice):
        listing = ok(await reader.call("qa.list", where))
        assert listing["questions"][0]["author"] is None
        assert "alice" not in str(listing)
    moderated = ok(
        await room.organizer.call(
            "qa.moderate",
            {"event_id": room.event_id, "question_id": asked["id"], "action": "answered"},
        )
    )
    assert moderated["author"] is None and "alice" not in str(moderated)
    subscribed = await room.organizer.subscribe(f"event.{room.event_id}.qa")
    assert subscribed["snapshot"]["sessions"][0]["questions"][0]["author"] is None
    assert "alice" not in str(subscribed)
    # Not in the database either, where a later feature could read it.
    assert workers.database_url
    conn = await asyncpg.connect(workers.database_url)
    try:
        rows = await conn.fetch("SELECT * FROM questions")
    finally:
        await conn.close()
    assert rows and "alice" not in str([dict(r) for r in rows])


async def test_moderation_decides_what_attendees_see(room: Room) -> None:
    alice = await room.attendee("alice")
    rude = ok(await alice.call("qa.ask", _ask(room, "Rude question")))
    fine = ok(await alice.call("qa.ask", _ask(room, "Fine question")))
    where = {"event_id": room.event_id, "session_id": room.session_id}

    async def moderate(question: dict[str, Any], action: str) -> dict[str, Any]:
        params = {"event_id": room.event_id, "question_id": question["id"], "action": action}
        return dict(ok(await room.organizer.call("qa.moderate", params)))

    assert (await moderate(rude, "hide"))["state"] == "hidden"
    assert _texts(ok(await alice.call("qa.list", where))) == ["Fine question"]
    door = await connect(room.client, room.make_token("staff", events=[room.event_id]))
    room.sockets.append(door)
    assert _texts(ok(await door.call("qa.list", where))) == ["Fine question"]
    assert set(_texts(ok(await room.organizer.call("qa.list", where)))) == {
        "Rude question",
        "Fine question",
    }
    upvote = {"event_id": room.event_id, "question_id": rude["id"]}
    assert error(await alice.call("qa.upvote", upvote))["code"] == "not_found"
    answered = await moderate(fine, "answered")
    assert answered["answered"] and answered["state"] == "visible"
    assert (await moderate(rude, "approve"))["state"] == "visible"
    assert set(_texts(ok(await alice.call("qa.list", where)))) == {"Rude question", "Fine question"}
    assert not (await moderate(fine, "unpin"))["pinned"]


async def test_approval_mode_holds_questions_back(room: Room) -> None:
    settings = {"event_id": room.event_id}
    assert ok(await room.organizer.call("qa.settings", settings)) == {
        "event_id": room.event_id,
        "require_approval": False,
    }
    on = ok(await room.organizer.call("qa.settings", {**settings, "require_approval": True}))
    assert on["require_approval"] is True
    alice = await room.attendee("alice")
    waiting = ok(await alice.call("qa.ask", _ask(room, "Held back?")))
    assert waiting["state"] == "pending"
    where = {"event_id": room.event_id, "session_id": room.session_id}
    assert ok(await alice.call("qa.list", where))["questions"] == []
    assert _texts(ok(await room.organizer.call("qa.list", where))) == ["Held back?"]
    # Turning approval off shows nothing by itself; approving does.
    ok(await room.organizer.call("qa.settings", {**settings, "require_approval": False}))
    assert ok(await alice.call("qa.list", where))["questions"] == []
    params = {"event_id": room.event_id, "question_id": waiting["id"], "action": "approve"}
    ok(await room.organizer.call("qa.moderate", params))
    assert _texts(ok(await alice.call("qa.list", where))) == ["Held back?"]
    assert ok(await alice.call("qa.ask", _ask(room, "Shown at once")))["state"] == "visible"


async def test_refusals(room: Room, workers: Settings) -> None:
    alice = await room.attendee("alice")
    other_event = await create_event(room.organizer, name="Other")
    foreign_session = await make_session(room.organizer, other_event)
    wrong = {"event_id": room.event_id, "session_id": foreign_session, "text": "Hello?"}
    assert error(await alice.call("qa.ask", wrong))["code"] == "not_found"
    wrong_list = {"event_id": room.event_id, "session_id": foreign_session}
    assert error(await room.organizer.call("qa.list", wrong_list))["code"] == "not_found"
    assert error(await alice.call("qa.ask", _ask(room, "   ")))["code"] == "bad_request"
    too_long = error(await alice.call("qa.ask", _ask(room, "x" * (MAX_QUESTION + 1))))
    assert (too_long["code"], too_long["details"]["field"]) == ("bad_request", "text")
    missing = {"event_id": room.event_id, "question_id": 999_999}
    assert error(await alice.call("qa.upvote", missing))["code"] == "not_found"
    moderation = {**missing, "action": "approve"}
    assert error(await room.organizer.call("qa.moderate", moderation))["code"] == "not_found"
    asked = ok(await alice.call("qa.ask", _ask(room, "A question")))
    bad_action = {"event_id": room.event_id, "question_id": asked["id"], "action": "delete"}
    assert error(await room.organizer.call("qa.moderate", bad_action))["code"] == "bad_request"
    assert error(await alice.call("qa.moderate", {**bad_action, "action": "hide"}))["code"] == (
        "forbidden"
    )
    assert error(await alice.call("qa.settings", {"event_id": room.event_id}))["code"] == (
        "forbidden"
    )
    outsider = room.make_token("attendee", sub="mallory", events=[other_event])
    stranger = await connect(room.client, outsider)
    room.sockets.append(stranger)
    assert error(await stranger.call("qa.ask", _ask(room, "Sneaking in")))["code"] == "forbidden"


async def test_asking_is_rate_limited_per_attendee(room: Room) -> None:
    alice, bob = await room.attendee("alice"), await room.attendee("bob")
    for n in range(ASK_LIMIT.count - 1):  # the first went in the loop's place
        ok(await alice.call("qa.ask", _ask(room, f"Question {n}")))
    ok(await alice.call("qa.ask", _ask(room, "The last one allowed")))
    refused = error(await alice.call("qa.ask", _ask(room, "One too many")))
    assert refused["code"] == "rate_limited"
    assert 1 <= refused["details"]["retry_after"] <= ASK_LIMIT.per_s
    # Anonymous questions count too; other attendees are not held back.
    anonymous = error(await alice.call("qa.ask", _ask(room, "Hidden me", anonymous=True)))
    assert anonymous["code"] == "rate_limited"
    ok(await bob.call("qa.ask", _ask(room, "Bob's turn")))


async def test_control_characters_in_a_question_are_refused(room: Room) -> None:
    """A NUL cannot be stored (PostgreSQL text): it must be `bad_request`, not `internal`;
    other control characters are refused alike, line breaks and tabs are kept."""
    alice = await room.attendee("alice")
    for text in ("Why\x00?", "Bell\x07?", "Esc\x1b[31m?", "Del\x7f?", "Next\x85line?"):
        refused = error(await alice.call("qa.ask", _ask(room, text)))
        assert (refused["code"], refused["details"]["field"]) == ("bad_request", "text"), text
    kept = ok(await alice.call("qa.ask", _ask(room, "Two lines:\n\tfirst?\n\tsecond?")))
    assert kept["text"] == "Two lines:\n\tfirst?\n\tsecond?"
    where = {"event_id": room.event_id, "session_id": room.session_id}
    assert [q["text"] for q in ok(await alice.call("qa.list", where))["questions"]] == [
        kept["text"]
    ]
