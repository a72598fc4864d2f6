"""The command table's rows for sessions and polls (docs/engagement.md), and their results.

All run in the engagement worker. Organizers and services manage; anyone the
token lets into the event reads sessions and polls (attendees without hidden
counts); attendees, organizers and services vote.
"""

from __future__ import annotations

from typing import Any, get_args

from bilten.protocol import results
from bilten.protocol.command_shape import Command
from bilten.protocol.params import MAX_ID
from bilten.protocol.polls import (
    KINDS,
    MAX_BLOCKED,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MAX_WORD,
    QUIZ_LIMIT_S,
)
from bilten.protocol.tokens import Role

_ORGANIZERS: frozenset[Role] = frozenset({"organizer", "service"})
_EVERYONE: frozenset[Role] = frozenset(get_args(Role))
_VOTERS: frozenset[Role] = frozenset({"attendee", "organizer", "service"})
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_TIME = {"type": ["string", "null"], "format": "date-time", "maxLength": 64}
_ROOM = {"type": ["string", "null"], "minLength": 1, "maxLength": 100}
_INDEX = {"type": "integer", "minimum": 0, "maximum": MAX_OPTIONS - 1}
MAX_CHOICE_TEXT = 4 * MAX_WORD  # a word-cloud answer before white space is collapsed


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


SESSION = results.obj(
    id=results.ID,
    event_id=results.ID,
    title=results.TEXT,
    room=results.nullable(results.TEXT),
    starts_at=results.nullable(results.TIME),
    ends_at=results.nullable(results.TIME),
    created_at=results.TIME,
)
TALLY = results.obj(
    {
        "counts": results.array(results.COUNT),
        "average": results.nullable({"type": "number"}),
        "words": results.array(results.obj(word=results.TEXT, count=results.COUNT)),
        "points": results.array(results.COUNT),
        "order": results.array(results.COUNT),
    },
    voters=results.COUNT,
)
POLL = results.obj(
    id=results.ID,
    event_id=results.ID,
    session_id=results.ID,
    question=results.TEXT,
    kind=results.enum(*KINDS),
    options=results.array(results.TEXT),
    results=results.enum("live", "on_close"),
    status=results.enum("draft", "open", "closed"),
    revealed=results.BOOL,
    correct=results.nullable(results.COUNT),
    time_limit_s=results.nullable(results.ID),
    tally=results.nullable(TALLY),
)
BLOCKLIST = results.obj(event_id=results.ID, words=results.array(results.TEXT))
_DEFINITION = {
    "question": _text(MAX_QUESTION),
    "kind": {"type": "string", "enum": list(KINDS)},
    "options": {"type": "array", "maxItems": MAX_OPTIONS, "items": _text(MAX_OPTION)},
    "results": {"type": "string", "enum": ["live", "on_close"]},
    "correct": _INDEX,
    "time_limit_s": {"type": "integer", "minimum": QUIZ_LIMIT_S[0], "maximum": QUIZ_LIMIT_S[1]},
}


def _poll_step(method: str, summary: str, step: str) -> Command:
    return Command(
        method,
        summary,
        _ORGANIZERS,
        "POST",
        f"/api/v1/polls/{{poll_id}}/{step}",
        "engagement",
        result=POLL,
        params={"poll_id": _ID},
    )


POLL_COMMANDS: tuple[Command, ...] = (
    Command(
        "sessions.create",
        "Add a session (talk, panel) to the event.",
        _ORGANIZERS,
        "POST",
        "/api/v1/events/{event_id}/sessions",
        "engagement",
        created=True,
        result=SESSION,
        params={
            "event_id": _ID,
            "title": _text(200),
            "room": _ROOM,
            "starts_at": _TIME,
            "ends_at": _TIME,
        },
        required=("title",),
    ),
    Command(
        "sessions.list",
        "The event's sessions by id.",
        _EVERYONE,
        "GET",
        "/api/v1/events/{event_id}/sessions",
        "engagement",
        result=results.obj(sessions=results.array(SESSION)),
        params={"event_id": _ID},
    ),
    Command(
        "sessions.update",
        "Change a session's title, room or times (null clears room and times).",
        _ORGANIZERS,
        "PATCH",
        "/api/v1/sessions/{session_id}",
        "engagement",
        result=SESSION,
        params={
            "session_id": _ID,
            "title": _text(200),
            "room": _ROOM,
            "starts_at": _TIME,
            "ends_at": _TIME,
        },
    ),
    Command(
        "sessions.delete",
        "Delete a session with its polls and their ballots.",
        _ORGANIZERS,
        "DELETE",
        "/api/v1/sessions/{session_id}",
        "engagement",
        result=results.obj(session_id=results.ID, deleted=results.const(True)),
        params={"session_id": _ID},
    ),
    Command(
        "polls.create",
        "A draft poll or quiz question in a session.",
        _ORGANIZERS,
        "POST",
        "/api/v1/sessions/{session_id}/polls",
        "engagement",
        created=True,
        result=POLL,
        params={"session_id": _ID, **_DEFINITION},
        required=("question", "kind"),
    ),
    Command(
        "polls.update",
        "Edit a draft poll.",
        _ORGANIZERS,
        "PATCH",
        "/api/v1/polls/{poll_id}",
        "engagement",
        result=POLL,
        params={"poll_id": _ID, **_DEFINITION},
    ),
    Command(
        "polls.list",
        "The event's polls (of one session) with results as the caller may see them.",
        _EVERYONE,
        "GET",
        "/api/v1/events/{event_id}/polls",
        "engagement",
        result=results.obj(polls=results.array(POLL)),
        params={"event_id": _ID, "session_id": _ID},
    ),
    Command(
        "polls.get",
        "One poll with results as the caller may see them.",
        _EVERYONE,
        "GET",
        "/api/v1/polls/{poll_id}",
        "engagement",
        result=POLL,
        params={"poll_id": _ID},
    ),
    _poll_step("polls.open", "Open a poll for votes (again); a quiz's clock starts.", "open"),
    _poll_step("polls.close", "Close a poll; after a quiz question, the leaderboard.", "close"),
    _poll_step("polls.reveal", "Show an on_close poll's results to everyone.", "reveal"),
    _poll_step("polls.reset", "Delete a poll's ballots; it is a hidden draft again.", "reset"),
    Command(
        "polls.delete",
        "Delete a poll and its ballots.",
        _ORGANIZERS,
        "DELETE",
        "/api/v1/polls/{poll_id}",
        "engagement",
        result=results.obj(poll_id=results.ID, deleted=results.const(True)),
        params={"poll_id": _ID},
    ),
    Command(
        "polls.results",
        "A poll with its counts, hidden from attendees or not.",
        _ORGANIZERS,
        "GET",
        "/api/v1/polls/{poll_id}/results",
        "engagement",
        result=POLL,
        params={"poll_id": _ID},
    ),
    Command(
        "polls.blocklist",
        "Words refused in the event's word-cloud answers.",
        _ORGANIZERS,
        "GET",
        "/api/v1/events/{event_id}/poll-blocklist",
        "engagement",
        result=BLOCKLIST,
        params={"event_id": _ID},
    ),
    Command(
        "polls.blocklist.set",
        "Replace the words refused in the event's word-cloud answers.",
        _ORGANIZERS,
        "PUT",
        "/api/v1/events/{event_id}/poll-blocklist",
        "engagement",
        result=BLOCKLIST,
        params={
            "event_id": _ID,
            "words": {"type": "array", "maxItems": MAX_BLOCKED, "items": _text(MAX_WORD)},
        },
        required=("words",),
    ),
    Command(
        "polls.vote",
        "Vote once in an open poll: an option, options, a rating, a word or a ranking.",
        _VOTERS,
        "POST",
        "/api/v1/polls/{poll_id}/votes",
        "engagement",
        created=True,
        result=results.obj(poll_id=results.ID, voted=results.const(True)),
        params={
            "poll_id": _ID,
            # Only the shapes and sizes: the values are judged against the poll by the
            # worker, so that every one a poll refuses is `bad_choice` with its reason.
            "choice": {
                "oneOf": [
                    {"type": "integer"},
                    {"type": "string", "maxLength": MAX_CHOICE_TEXT},
                    {"type": "array", "maxItems": MAX_OPTIONS, "items": {"type": "integer"}},
                ]
            },
        },
        required=("choice",),
    ),
)
