"""The command table's rows for Q&A and reactions (docs/engagement.md §Q&A, §Reactions).

All run in the qa worker. Attendees (and organizers, who may take part)
ask, upvote and react; organizers moderate and choose whether questions wait
for approval; everyone covered by the token reads the list, attendees only
the questions shown to the room.
"""

from __future__ import annotations

from typing import Any, get_args

from bilten.protocol import results
from bilten.protocol.command_shape import Command
from bilten.protocol.params import MAX_ID
from bilten.protocol.qa import ACTIONS, MAX_QUESTION, REACTIONS, State
from bilten.protocol.tokens import Role

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_ALL: frozenset[Role] = frozenset(get_args(Role))
_ORGANIZERS: frozenset[Role] = frozenset({"organizer", "service"})
PARTICIPANTS: frozenset[Role] = frozenset({"attendee", "organizer", "service"})
_SESSION = "/api/v1/events/{event_id}/sessions/{session_id}"
_QUESTION = "/api/v1/events/{event_id}/questions/{question_id}"

QUESTION = results.obj(
    id=results.ID,
    session_id=results.ID,
    text=results.TEXT,
    author=results.nullable(results.TEXT),
    state=results.enum(*get_args(State)),
    answered=results.BOOL,
    pinned=results.BOOL,
    votes=results.COUNT,
    created_at=results.TIME,
)
QUESTIONS = results.obj(session_id=results.ID, questions=results.array(QUESTION))
UPVOTED = results.obj(question_id=results.ID, votes=results.COUNT, upvoted=results.BOOL)
QA_SETTINGS = results.obj(event_id=results.ID, require_approval=results.BOOL)
REACTED = results.obj(session_id=results.ID, emoji=results.TEXT, window=results.COUNT)

_EMOJI: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 16,
    "description": "One of " + " ".join(REACTIONS) + "; anything else is `bad_reaction`.",
    "example": REACTIONS[0],
}

QA_COMMANDS: tuple[Command, ...] = (
    Command(
        "qa.ask",
        "Ask a question in a session (anonymous: nobody, organizers included, learns who).",
        PARTICIPANTS,
        "POST",
        f"{_SESSION}/questions",
        "qa",
        created=True,
        result=QUESTION,
        params={
            "event_id": _ID,
            "session_id": _ID,
            "text": {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION},
            "anonymous": {"type": "boolean"},
        },
        required=("text",),
        limited=True,
    ),
    Command(
        "qa.list",
        "A session's questions, pinned first then by votes (attendees: only those shown).",
        _ALL,
        "GET",
        f"{_SESSION}/questions",
        "qa",
        result=QUESTIONS,
        params={"event_id": _ID, "session_id": _ID},
    ),
    Command(
        "qa.upvote",
        "Upvote a question once (withdraw: take the upvote back).",
        PARTICIPANTS,
        "POST",
        f"{_QUESTION}/upvote",
        "qa",
        result=UPVOTED,
        params={"event_id": _ID, "question_id": _ID, "withdraw": {"type": "boolean"}},
    ),
    Command(
        "qa.moderate",
        "Approve, hide, mark answered, pin or unpin a question.",
        _ORGANIZERS,
        "POST",
        f"{_QUESTION}/moderate",
        "qa",
        result=QUESTION,
        params={
            "event_id": _ID,
            "question_id": _ID,
            "action": {"type": "string", "enum": list(ACTIONS)},
        },
        required=("action",),
    ),
    Command(
        "qa.settings",
        "Whether the event's questions wait for approval (left out: read it).",
        _ORGANIZERS,
        "PUT",
        "/api/v1/events/{event_id}/qa",
        "qa",
        result=QA_SETTINGS,
        params={"event_id": _ID, "require_approval": {"type": "boolean"}},
    ),
    Command(
        "reactions.send",
        "React in a session: counted per 250 ms window on event.{event_id}.reactions.",
        PARTICIPANTS,
        "POST",
        f"{_SESSION}/reactions",
        "qa",
        result=REACTED,
        params={"event_id": _ID, "session_id": _ID, "emoji": _EMOJI},
        required=("emoji",),
        limited=True,
    ),
)
