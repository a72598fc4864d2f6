"""The pure Q&A and reaction rules (protocol/qa.py), table-driven."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bilten.protocol.errors import BadReaction, BadRequest
from bilten.protocol.qa import (
    ACTIONS,
    REACTIONS,
    Action,
    Moderation,
    Question,
    check_reaction,
    encode_list,
    encode_reactions,
    initial_state,
    moderate,
    question_text,
    sees_everything,
)

PENDING = Moderation("pending")
SHOWN = Moderation("visible")
HIDDEN = Moderation("hidden", answered=True, pinned=True)


@pytest.mark.parametrize(
    ("before", "action", "after"),
    [
        (PENDING, "approve", SHOWN),
        (HIDDEN, "approve", Moderation("visible", answered=True, pinned=True)),
        (SHOWN, "hide", Moderation("hidden")),
        (PENDING, "hide", Moderation("hidden")),
        (SHOWN, "answered", Moderation("visible", answered=True)),
        (SHOWN, "pin", Moderation("visible", pinned=True)),
        (HIDDEN, "unpin", Moderation("hidden", answered=True)),
        (PENDING, "pin", Moderation("pending", pinned=True)),
    ],
)
def test_moderate(before: Moderation, action: Action, after: Moderation) -> None:
    assert moderate(before, action) == after
    assert moderate(after, action) == after  # repeating changes nothing


def test_every_action_is_handled() -> None:
    assert set(ACTIONS) == {"approve", "hide", "answered", "pin", "unpin"}
    for action in ACTIONS:
        assert isinstance(moderate(PENDING, action), Moderation)


def test_approval_and_roles() -> None:
    assert initial_state(True) == "pending" and initial_state(False) == "visible"
    assert sees_everything("organizer") and sees_everything("service")
    assert not sees_everything("attendee") and not sees_everything("staff")


def _question(id: int, votes: int, pinned: bool = False) -> Question:
    at = datetime(2027, 6, 1, 19, tzinfo=UTC)
    return Question(id, 7, f"q{id}", None, "visible", False, pinned, votes, at)


def test_list_order_pinned_then_votes_then_oldest() -> None:
    questions = [_question(1, 2), _question(2, 5), _question(3, 0, pinned=True), _question(4, 5)]
    listed = encode_list(7, questions)
    assert listed["session_id"] == 7
    assert [q["id"] for q in listed["questions"]] == [3, 2, 4, 1]
    assert listed["questions"][0]["created_at"] == "2027-06-01T19:00:00+00:00"


@pytest.mark.parametrize("emoji", ["💩", "", "like", "👍👍", None, 1, "👍 "])
def test_bad_reactions(emoji: object) -> None:
    with pytest.raises(BadReaction) as caught:
        check_reaction(emoji)
    assert caught.value.code == "bad_reaction" and caught.value.details["field"] == "emoji"


def test_reaction_publication_lists_only_sent_emoji_in_a_fixed_order() -> None:
    counts = {"🎉": 2, "👍": 3, "🔥": 0}
    assert encode_reactions(9, 123, counts) == {
        "session_id": 9,
        "window": 123,
        "window_ms": 250,
        "counts": {"👍": 3, "🎉": 2},
    }
    assert list(encode_reactions(9, 1, dict.fromkeys(REACTIONS, 1))["counts"]) == list(REACTIONS)


@pytest.mark.parametrize("text", [None, 5, "", " \n\t ", "a\x00b", "a\x1bb", "a\x7fb", "a\x85b"])
def test_question_text_refused(text: object) -> None:
    with pytest.raises(BadRequest):
        question_text(text)


def test_question_text_is_trimmed_and_keeps_line_breaks_and_tabs() -> None:
    assert question_text("  Why?\n\tReally? ") == "Why?\n\tReally?"
