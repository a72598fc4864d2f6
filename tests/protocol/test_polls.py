"""Poll definitions, ballots, tallies and quiz points: the pure rules every side shares."""

from __future__ import annotations

from typing import Any

import pytest

from bilten.protocol.errors import BadChoice, BadRequest
from bilten.protocol.poll_tally import (
    PollState,
    add_up,
    leaderboard,
    poll_view,
    rank,
    tally_view,
)
from bilten.protocol.polls import (
    PollSpec,
    is_blocked,
    normalize_word,
    parse_blocklist,
    parse_choice,
    parse_spec,
    quiz_score,
)

ABC = ("A", "B", "C")
QUIZ = PollSpec("quiz", ABC, correct=1, time_limit_s=20)


@pytest.mark.parametrize(
    ("spec", "choice", "ballot"),
    [
        (PollSpec("single", ABC), 2, 2),
        (PollSpec("multiple", ABC), [2, 0], [2, 0]),
        (PollSpec("rating"), 1, 1),
        (PollSpec("words"), "  Big\u00a0 DATA\n", "big data"),
        (PollSpec("words"), "Straße", "strasse"),
        (PollSpec("ranking", ABC), [1, 2, 0], [1, 2, 0]),
        (QUIZ, 0, 0),
    ],
)
def test_valid_choices_are_normalised(spec: PollSpec, choice: Any, ballot: Any) -> None:
    assert parse_choice(spec, choice) == ballot


@pytest.mark.parametrize(
    ("spec", "choice", "reason"),
    [
        (PollSpec("single", ABC), 3, "option"),
        (PollSpec("single", ABC), True, "option"),
        (PollSpec("single", ABC), [0], "option"),
        (PollSpec("multiple", ABC), [], "empty"),
        (PollSpec("multiple", ABC), [1, 1], "repeated"),
        (PollSpec("multiple", ABC), 1, "option"),
        (PollSpec("rating"), 6, "rating"),
        (PollSpec("rating"), "5", "rating"),
        (PollSpec("words"), 5, "word"),
        (PollSpec("words"), " \t ", "word"),
        (PollSpec("words"), "a" * 41, "word"),
        (PollSpec("words"), "bad\u0007bell", "word"),
        (PollSpec("ranking", ABC), [0, 1], "incomplete"),
        (PollSpec("ranking", ABC), [0, 1, 1], "repeated"),
        (QUIZ, -1, "option"),
    ],
)
def test_invalid_choices_say_why(spec: PollSpec, choice: Any, reason: str) -> None:
    with pytest.raises(BadChoice) as refused:
        parse_choice(spec, choice)
    assert refused.value.details["reason"] == reason


def test_blocked_words_are_matched_whole_after_normalising() -> None:
    blocked = parse_blocklist(["Darn", " darn ", "HECK"])
    assert blocked == ("darn", "heck")
    words = PollSpec("words")
    for answer in ("DARN", "oh   darn", "heck yes"):
        with pytest.raises(BadChoice):
            parse_choice(words, answer, blocked)
    assert parse_choice(words, "darning", blocked) == "darning"
    assert normalize_word("ＦＵＬＬ width") == "full width"


def test_punctuation_hides_no_blocked_word_or_phrase() -> None:
    blocked = parse_blocklist(["darn", "Bad Word", "f*ck"])
    for answer in ("darn!", "darn-it", "(darn)", "so...darn", "a bad word", "bad, word!", "f*ck"):
        assert is_blocked(answer, blocked), answer
    for answer in ("darning", "badword", "bad words", "word bad", "fck", "f*cking"):
        assert not is_blocked(answer, blocked), answer
    assert not is_blocked("darn", ())


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "poll"},
        {"kind": "single", "options": ["only one"]},
        {"kind": "single", "options": ["A", "A "]},
        {"kind": "rating", "options": ["A", "B"]},
        {"kind": "single", "options": ["A", "B"], "correct": 0},
        {"kind": "quiz", "options": ["A", "B"], "correct": 2, "time_limit_s": 10},
        {"kind": "quiz", "options": ["A", "B"], "correct": 0, "time_limit_s": 4},
        {"kind": "quiz", "options": ["A", "B"], "correct": 0},
    ],
)
def test_bad_definitions_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        parse_spec(params)


def test_an_edit_keeps_what_it_does_not_change() -> None:
    quiz = parse_spec({"kind": "quiz", "options": ["A", "B"], "correct": 1, "time_limit_s": 30})
    assert parse_spec({"time_limit_s": 60}, quiz) == PollSpec("quiz", ("A", "B"), 1, 60)


@pytest.mark.parametrize(
    ("choice", "elapsed", "points"),
    [(1, 0.0, 1000), (1, 10.0, 750), (1, 20.0, 500), (1, 99.0, 500), (0, 0.0, 0), (1, -1, 1000)],
)
def test_quiz_points_fall_with_answer_time(choice: int, elapsed: float, points: int) -> None:
    assert quiz_score(choice, QUIZ, elapsed) == points


@pytest.mark.parametrize(
    ("spec", "ballots", "view"),
    [
        (PollSpec("single", ABC), [0, 0, 2], {"voters": 3, "counts": [2, 0, 1]}),
        (PollSpec("multiple", ABC), [[0, 1], [1]], {"voters": 2, "counts": [1, 2, 0]}),
        (PollSpec("rating"), [], {"voters": 0, "counts": [0] * 5, "average": None}),
        (PollSpec("rating"), [1, 2], {"voters": 2, "counts": [1, 1, 0, 0, 0], "average": 1.5}),
        (
            PollSpec("words"),
            ["b", "a", "b"],
            {"voters": 3, "words": [{"word": "b", "count": 2}, {"word": "a", "count": 1}]},
        ),
        (
            PollSpec("ranking", ABC),
            [[2, 1, 0], [1, 2, 0]],
            {"voters": 2, "points": [0, 3, 3], "order": [1, 2, 0]},
        ),
    ],
)
def test_ballots_add_up_to_each_kinds_shape(
    spec: PollSpec, ballots: list[Any], view: dict[str, Any]
) -> None:
    assert tally_view(spec, add_up(spec, ballots)) == view


def test_hidden_results_and_quiz_answers_reach_organizers_only() -> None:
    poll = PollState(1, 7, 3, "?", QUIZ, "on_close", "open", False, {"v": 1, "o1": 1})
    attendee, organizer = poll_view(poll, organizer=False), poll_view(poll, organizer=True)
    assert (attendee["tally"], attendee["correct"]) == (None, None)
    assert (organizer["tally"], organizer["correct"]) == ({"voters": 1, "counts": [0, 1, 0]}, 1)
    revealed = poll_view(
        PollState(1, 7, 3, "?", QUIZ, "on_close", "closed", True, {}), organizer=False
    )
    assert revealed["tally"] == {"voters": 0, "counts": [0, 0, 0]} and revealed["correct"] == 1


def test_ranks_share_places_on_equal_points() -> None:
    scores = {"cem": 500, "ana": 900, "ben": 900, "dan": 0}
    assert rank(scores) == {"ana": 1, "ben": 1, "cem": 3, "dan": 4}
    assert [e["sub"] for e in leaderboard(scores, 2)] == ["ana", "ben"]


def test_options_must_differ_as_voters_see_them() -> None:
    for options in (["Café", "Cafe\u0301"], ["Yes", "ＹＥＳ"], ["a b", " A  B "]):
        with pytest.raises(BadRequest):
            parse_spec({"kind": "single", "options": options})
    assert parse_spec({"kind": "single", "options": ["Café", "Cafe"]}).options == ("Café", "Cafe")
