"""What ballots add up to, and how a poll looks to the people who see it.

docs/engagement.md §Results. A ballot becomes a few counter increments
(`increments`); the counters, however kept (a Redis hash, or summed from the
ballots in PostgreSQL when that is lost), become the natural shape of each
kind's results (`tally_view`). `poll_view` is the one form a poll takes on
the wire, with its counts hidden from attendees while an `on_close` poll is
not revealed. Pure: the worker, the snapshot and the tests share it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bilten.protocol.polls import RATING, PollSpec, Status, Visibility

VOTERS = "v"  # the counter of ballots
MAX_WORDS = 100  # the most frequent answers of a word cloud shown


def increments(spec: PollSpec, choice: Any) -> list[tuple[str, int]]:
    """The counters one (normalised) ballot adds to: `o{i}` options, `r{n}` ratings,
    `w:{word}` answers, and `v`, the voters; a ranking gives an option one point per
    option ranked below it (a Borda count)."""
    fields = [(VOTERS, 1)]
    if spec.kind in ("single", "quiz", "rating"):
        fields.append((f"{'r' if spec.kind == 'rating' else 'o'}{choice}", 1))
    elif spec.kind == "multiple":
        fields.extend((f"o{i}", 1) for i in choice)
    elif spec.kind == "words":
        fields.append((f"w:{choice}", 1))
    else:
        last = len(choice) - 1
        fields.extend(
            (f"o{option}", last - place) for place, option in enumerate(choice) if place < last
        )
    return fields


def add_up(spec: PollSpec, choices: Iterable[Any]) -> dict[str, int]:
    """The counters of a whole poll from its ballots (rebuilding lost live counts)."""
    total: Counter[str] = Counter()
    for choice in choices:
        for field, by in increments(spec, choice):
            total[field] += by
    return dict(total)


def tally_view(spec: PollSpec, counters: Mapping[str, int]) -> dict[str, Any]:
    """Results in each kind's natural shape: `counts` per option (single, multiple, quiz)
    or per rating 1-5 with the `average`; `words` by count; `points` per option and the
    resulting `order` (ranking)."""
    voters = counters.get(VOTERS, 0)
    if spec.kind == "rating":
        counts = [counters.get(f"r{n}", 0) for n in range(RATING[0], RATING[1] + 1)]
        rated = sum(counts)
        average = (
            round(
                sum(n * c for n, c in zip(range(RATING[0], RATING[1] + 1), counts, strict=True))
                / rated,
                2,
            )
            if rated
            else None
        )
        return {"voters": voters, "counts": counts, "average": average}
    if spec.kind == "words":
        words = sorted(
            ((f[2:], c) for f, c in counters.items() if f.startswith("w:") and c > 0),
            key=lambda item: (-item[1], item[0]),
        )[:MAX_WORDS]
        return {"voters": voters, "words": [{"word": w, "count": c} for w, c in words]}
    counts = [counters.get(f"o{i}", 0) for i in range(len(spec.options))]
    if spec.kind == "ranking":
        order = sorted(range(len(counts)), key=lambda i: (-counts[i], i))
        return {"voters": voters, "points": counts, "order": order}
    return {"voters": voters, "counts": counts}


@dataclass(frozen=True, slots=True)
class PollState:
    """A poll as stored: its definition, where it stands, and its counters."""

    id: int
    event_id: int
    session_id: int
    question: str
    spec: PollSpec
    results: Visibility
    status: Status
    revealed: bool
    counters: Mapping[str, int]


def hidden(poll: PollState) -> bool:
    """Whether attendees see no counts: an `on_close` poll until revealed."""
    return poll.results == "on_close" and not poll.revealed


def poll_view(poll: PollState, *, organizer: bool) -> dict[str, Any]:
    """The poll on the wire. Organizers see everything; others get `tally: null` while
    it is hidden, and a quiz's `correct` answer only once it is closed."""
    spec = poll.spec
    show_answer = organizer or poll.status == "closed"
    return {
        "id": poll.id,
        "event_id": poll.event_id,
        "session_id": poll.session_id,
        "question": poll.question,
        "kind": spec.kind,
        "options": list(spec.options),
        "results": poll.results,
        "status": poll.status,
        "revealed": poll.revealed,
        "correct": spec.correct if show_answer else None,
        "time_limit_s": spec.time_limit_s,
        "tally": None if hidden(poll) and not organizer else tally_view(spec, poll.counters),
    }


def leaderboard(scores: Mapping[str, int], top: int = 10) -> list[dict[str, Any]]:
    """The `top` players by total quiz points (ties by name), ranked from 1; equal points
    share a rank."""
    ranked = rank(scores)
    return [{"sub": sub, "score": scores[sub], "rank": ranked[sub]} for sub in _order(scores)[:top]]


def rank(scores: Mapping[str, int]) -> dict[str, int]:
    """Every player's rank (1 is best; equal points, equal rank)."""
    out: dict[str, int] = {}
    previous: int | None = None
    place = 0
    for n, sub in enumerate(_order(scores), start=1):
        if scores[sub] != previous:
            place, previous = n, scores[sub]
        out[sub] = place
    return out


def _order(scores: Mapping[str, int]) -> list[str]:
    return sorted(scores, key=lambda sub: (-scores[sub], sub))
