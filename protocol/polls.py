"""Polls: what a poll may be, and what a ballot of each kind must look like.

docs/engagement.md §Polls. The worker checks every definition and every vote
with these functions, and a client may run them too; the tallies ballots add
up to are in protocol/poll_tally.py. Pure: no I/O, table-tested.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, get_args

from bilten.protocol.errors import BadChoice, BadRequest

Kind = Literal["single", "multiple", "rating", "words", "ranking", "quiz"]
KINDS: tuple[Kind, ...] = get_args(Kind)
Visibility = Literal["live", "on_close"]
Status = Literal["draft", "open", "closed"]

MAX_OPTIONS = 20
MAX_OPTION = 200
MAX_QUESTION = 500
MAX_WORD = 40  # a word-cloud answer, after normalising
MAX_BLOCKED = 500
RATING = (1, 5)
QUIZ_LIMIT_S = (5, 600)
QUIZ_POINTS = 1000  # an instant correct answer; half of it at the time limit
_LETTERS = re.compile(r"[^\W_]+")  # a word, for the block list: letters and digits

# Kinds whose voters pick among the poll's options; rating and words have none.
WITH_OPTIONS: frozenset[Kind] = frozenset({"single", "multiple", "ranking", "quiz"})


@dataclass(frozen=True, slots=True)
class PollSpec:
    """What a vote is checked against: the kind, its options and, for a quiz, the answer."""

    kind: Kind
    options: tuple[str, ...] = ()
    correct: int | None = None
    time_limit_s: int | None = None


def parse_spec(params: Mapping[str, Any], base: PollSpec | None = None) -> PollSpec:
    """The poll definition in `params` (over `base` when editing); BadRequest names the field."""
    kind = params.get("kind", base.kind if base else None)
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}", field="kind")
    options = params.get("options", base.options if base else ())
    if kind in WITH_OPTIONS:
        if (
            not isinstance(options, list | tuple)
            or not 2 <= len(options) <= MAX_OPTIONS
            or not all(_is_text(o, MAX_OPTION) for o in options)
        ):
            raise BadRequest(
                f"a {kind} poll needs 2-{MAX_OPTIONS} options of 1-{MAX_OPTION} characters",
                field="options",
            )
        if len({normalize_word(o) for o in options}) != len(options):  # as voters see them
            raise BadRequest(
                "options must differ, beyond case, accents' encoding and white space",
                field="options",
            )
    elif options:
        raise BadRequest(f"a {kind} poll has no options", field="options")
    if kind != "quiz":
        if params.get("correct") is not None or params.get("time_limit_s") is not None:
            raise BadRequest("only a quiz has a correct answer and a time limit", field="kind")
        return PollSpec(kind, tuple(o.strip() for o in options))
    correct = params.get("correct", base.correct if base else None)
    if not _is_int(correct) or not 0 <= correct < len(options):
        raise BadRequest("correct must be the index of one of the options", field="correct")
    limit = params.get("time_limit_s", base.time_limit_s if base else None)
    if not _is_int(limit) or not QUIZ_LIMIT_S[0] <= limit <= QUIZ_LIMIT_S[1]:
        raise BadRequest(
            f"time_limit_s must be {QUIZ_LIMIT_S[0]}-{QUIZ_LIMIT_S[1]} seconds",
            field="time_limit_s",
        )
    return PollSpec(kind, tuple(o.strip() for o in options), correct, limit)


def normalize_word(text: str) -> str:
    """A word-cloud answer as it is counted: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def parse_blocklist(words: object) -> tuple[str, ...]:
    """An organizer's block list, normalised like answers, sorted and without repeats."""
    if not isinstance(words, list) or len(words) > MAX_BLOCKED:
        raise BadRequest(f"words must be a list of at most {MAX_BLOCKED} words", field="words")
    if not all(_is_text(w, MAX_WORD) for w in words):
        raise BadRequest(f"each word must be 1-{MAX_WORD} characters", field="words")
    return tuple(sorted({normalize_word(w) for w in words} - {""}))


def is_blocked(answer: str, blocked: Collection[str]) -> bool:
    """Whether a normalised answer is, or contains as whole words, an entry of the block
    list. Words are split at white space and, so that punctuation hides none ("darn!",
    "bad, word"), at anything but letters and digits too."""
    if not blocked:
        return False
    entries = frozenset(blocked)
    return any(
        " ".join(words[i:j]) in entries
        for words in (answer.split(), _LETTERS.findall(answer))
        for i in range(len(words))
        for j in range(i + 1, len(words) + 1)
    )


def parse_choice(spec: PollSpec, choice: object, blocked: Collection[str] = ()) -> Any:
    """The ballot `choice` casts in a poll of `spec`, normalised; BadChoice says why not.

    single, quiz: an option index; multiple: distinct option indexes; rating:
    1-5; words: text; ranking: every option index once, first the best.
    """
    n = len(spec.options)
    kind = spec.kind
    if kind in ("single", "quiz"):
        if not _is_int(choice) or not 0 <= choice < n:
            raise BadChoice(f"choice must be an option index from 0 to {n - 1}", reason="option")
        return choice
    if kind == "rating":
        if not _is_int(choice) or not RATING[0] <= choice <= RATING[1]:
            raise BadChoice(
                f"choice must be a rating from {RATING[0]} to {RATING[1]}", reason="rating"
            )
        return choice
    if kind == "words":
        if not isinstance(choice, str):
            raise BadChoice("choice must be text", reason="word")
        word = normalize_word(choice)
        if not word or len(word) > MAX_WORD or any(unicodedata.category(c)[0] == "C" for c in word):
            raise BadChoice(f"choice must be 1-{MAX_WORD} printable characters", reason="word")
        if is_blocked(word, blocked):
            raise BadChoice("this word is not accepted here", reason="blocked")
        return word
    if not isinstance(choice, list) or not all(_is_int(c) and 0 <= c < n for c in choice):
        raise BadChoice(
            f"choice must be a list of option indexes from 0 to {n - 1}", reason="option"
        )
    if len(set(choice)) != len(choice):
        raise BadChoice("an option may be chosen once", reason="repeated")
    if kind == "multiple" and not choice:
        raise BadChoice("choose at least one option", reason="empty")
    if kind == "ranking" and len(choice) != n:
        raise BadChoice("a ranking orders every option", reason="incomplete")
    return list(choice)


def quiz_score(choice: int, spec: PollSpec, elapsed_s: float) -> int:
    """Points of a quiz answer: none when wrong; when right, 1000 at once down to 500 at
    the time limit, linearly, so faster is better and any right answer beats a wrong one."""
    if choice != spec.correct or spec.time_limit_s is None:
        return 0
    late = min(max(elapsed_s / spec.time_limit_s, 0.0), 1.0)
    return round(QUIZ_POINTS * (1 - late / 2))


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: object, limit: int) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value.strip())
        and len(value) <= limit
        and not any(ord(c) < 32 for c in value)
    )
