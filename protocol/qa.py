"""Q&A and reactions: the rules the qa worker applies and clients can rely on.

docs/engagement.md §Q&A and §Reactions. Pure: what a moderation action does
to a question, who sees a question in which state, the wire shape of a
question and of a session's list, the fixed set of reactions, the windows
reactions are counted in, and the per-attendee rate limits.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from bilten.protocol.errors import BadReaction, BadRequest
from bilten.protocol.tokens import Role

State = Literal["pending", "visible", "hidden"]
Action = Literal["approve", "hide", "answered", "pin", "unpin"]
ACTIONS: tuple[Action, ...] = get_args(Action)

MAX_QUESTION = 500  # characters of a question
# Questions per session in a list, a publication or a snapshot: the top of the order.
MAX_LISTED = 200
# Organizers' `qa.list` also shows pending and hidden questions: the top of the order.
MAX_MODERATED = 500
FEED_TICK_S = 0.2  # one publication per changed session per tick: at most 5 a second

# The reactions an attendee may send; anything else is `bad_reaction`.
REACTIONS: tuple[str, ...] = ("👍", "👏", "🔥", "😂", "😮", "🎉")
WINDOW_MS = 250  # reactions are counted per window of this length


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` calls per attendee in a window of `per_s` seconds that opens with
    the first call; the refusal says how long until it closes (`retry_after`)."""

    count: int
    per_s: int


ASK_LIMIT = RateLimit(5, 60)
REACTION_LIMIT = RateLimit(20, 10)


@dataclass(frozen=True, slots=True)
class Moderation:
    """The moderation fields of a question."""

    state: State
    answered: bool = False
    pinned: bool = False


def moderate(current: Moderation, action: Action) -> Moderation:
    """The question's fields after an organizer's `action` (idempotent: repeating is a no-op).

    `approve` shows a pending or hidden question, `hide` takes any question
    out of attendees' sight, `answered` marks it, `pin` / `unpin` move it to
    the top of the list or back.
    """
    if action == "approve":
        return replace(current, state="visible")
    if action == "hide":
        return replace(current, state="hidden")
    if action == "answered":
        return replace(current, answered=True)
    return replace(current, pinned=action == "pin")


def initial_state(require_approval: bool) -> State:
    """A new question waits for approval when the event requires it, else shows at once."""
    return "pending" if require_approval else "visible"


def sees_everything(role: Role) -> bool:
    """Organizers (and services) see pending and hidden questions; attendees never do."""
    return role in ("organizer", "service")


@dataclass(frozen=True, slots=True)
class Question:
    """One question as everyone reads it. `author` is the asker's `sub`, None when anonymous."""

    id: int
    session_id: int
    text: str
    author: str | None
    state: State
    answered: bool
    pinned: bool
    votes: int
    created_at: datetime

    def to_wire(self) -> dict[str, Any]:
        """The question's JSON object (docs/engagement.md §Q&A)."""
        return {
            "id": self.id,
            "session_id": self.session_id,
            "text": self.text,
            "author": self.author,
            "state": self.state,
            "answered": self.answered,
            "pinned": self.pinned,
            "votes": self.votes,
            "created_at": self.created_at.isoformat(),
        }


def order_key(question: Question) -> tuple[bool, int, int]:
    """The list order: pinned first, then most votes, then the oldest."""
    return (not question.pinned, -question.votes, question.id)


def encode_list(session_id: int, questions: Sequence[Question]) -> dict[str, Any]:
    """One session's list in list order: a publication on `event.{id}.qa` is exactly this."""
    ordered = sorted(questions, key=order_key)
    return {"session_id": session_id, "questions": [q.to_wire() for q in ordered]}


def question_text(text: object) -> str:
    """A question as stored: trimmed, not only white space, and without control characters
    besides line breaks and tabs (a NUL could not even be stored); BadRequest otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("text must have something besides white space", field="text")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise BadRequest("text must not hold control characters", field="text")
    return text.strip()


def check_reaction(emoji: object) -> str:
    """`emoji` if it is one of REACTIONS; raise `BadReaction` otherwise."""
    if not isinstance(emoji, str) or emoji not in REACTIONS:
        raise BadReaction(
            f"{emoji!r} is not a reaction; send one of {' '.join(REACTIONS)}", field="emoji"
        )
    return emoji


def encode_reactions(session_id: int, window: int, counts: Mapping[str, int]) -> dict[str, Any]:
    """A publication on `event.{id}.reactions`: one window's counts for one session.

    `window` numbers the window (its start is `window * WINDOW_MS` milliseconds
    since the Unix epoch); reactions nobody sent are left out of `counts`.
    """
    return {
        "session_id": session_id,
        "window": window,
        "window_ms": WINDOW_MS,
        "counts": {emoji: counts[emoji] for emoji in REACTIONS if counts.get(emoji)},
    }
