"""The simulated day's plan: deterministic by seed, shaped like a day, every step coherent."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from bilten.clients.sim_plan import (
    DOORS,
    MAX_QUESTIONS,
    MAX_REACTIONS,
    MAX_UPVOTES,
    POLL_OPTIONS,
    SALE,
    SESSIONS,
    DayConfig,
    gate_names,
    plan_day,
    quiz_limit,
)
from bilten.protocol.qa import REACTIONS


def test_the_same_config_gives_the_same_plan_and_another_seed_another() -> None:
    config = DayConfig(attendees=300, gates=3, duration_s=20, seed=7)
    assert plan_day(config) == plan_day(config)
    assert plan_day(config).steps != plan_day(DayConfig(300, 3, 20, seed=8)).steps


def test_every_buyer_buys_once_then_is_scanned_at_a_gate_of_the_event() -> None:
    plan = plan_day(DayConfig(attendees=500, gates=3, duration_s=30, rescan_share=0.1))
    assert plan.gates == gate_names(3) == ("gate-1", "gate-2", "gate-3")
    bought = {s.subject: s.at for s in plan.steps if s.kind == "purchase"}
    assert sorted(bought) == list(range(500))
    first = {s.subject: s for s in plan.steps if s.kind == "scan" and not s.again}
    assert sorted(first) == list(range(500))
    for buyer, scan in first.items():
        assert scan.at > bought[buyer] and scan.gate in plan.gates
    again = [s for s in plan.steps if s.kind == "scan" and s.again]
    assert 0 < len(again) < 500 * 0.2  # about a tenth, never all
    for scan in again:  # at the gate of, and after, the ticket's first scan
        assert scan.gate == first[scan.subject].gate and scan.at > first[scan.subject].at


def test_the_sale_opens_with_a_rush_and_arrivals_peak_inside_the_doors_window() -> None:
    d = 100.0
    plan = plan_day(DayConfig(attendees=2000, gates=2, duration_s=d))
    sales = [s.at for s in plan.steps if s.kind == "purchase"]
    assert all(SALE[0] * d <= t < SALE[1] * d for t in sales)
    first_fifth = sum(1 for t in sales if t < SALE[1] * d / 5)
    assert first_fifth > len(sales) / 2  # the rush: most buyers in the sale's first fifth
    scans = [s.at for s in plan.steps if s.kind == "scan" and not s.again]
    by_tenth = Counter(int(10 * (t - DOORS[0] * d) / ((DOORS[1] - DOORS[0]) * d)) for t in scans)
    assert max(by_tenth, key=by_tenth.__getitem__) in (2, 3)  # a curve peaking a third in
    gates = Counter(s.gate for s in plan.steps if s.kind == "scan")
    assert gates["gate-1"] > gates["gate-2"] > 0  # the first gate busiest


def test_polls_open_in_turn_and_votes_land_inside_their_poll_from_people_inside() -> None:
    d = 60.0
    plan = plan_day(DayConfig(attendees=400, gates=2, duration_s=d, polls=3, vote_share=0.5))
    opens = {s.subject: s.at for s in plan.steps if s.kind == "poll_open"}
    closes = {s.subject: s.at for s in plan.steps if s.kind == "poll_close"}
    assert sorted(opens) == sorted(closes) == [0, 1, 2]
    for poll in range(3):
        assert SESSIONS[0] * d <= opens[poll] < closes[poll] <= SESSIONS[1] * d
    for a, b in itertools.pairwise(range(3)):
        assert closes[a] <= opens[b]
    arrived = {s.subject: s.at for s in plan.steps if s.kind == "scan" and not s.again}
    votes = [s for s in plan.steps if s.kind == "vote"]
    assert 0 < len(votes) <= 3 * 400
    for vote in votes:
        assert vote.poll is not None and vote.choice is not None
        assert opens[vote.poll] <= vote.at < closes[vote.poll]
        assert vote.at > arrived[vote.subject]
    assert len({(v.subject, v.poll) for v in votes}) == len(votes)  # one ballot each


def test_reactions_come_in_sessions_from_people_inside_a_few_each() -> None:
    d = 60.0
    plan = plan_day(DayConfig(attendees=400, duration_s=d, polls=2, react_share=0.5))
    opens = {s.subject: s.at for s in plan.steps if s.kind == "poll_open"}
    closes = {s.subject: s.at for s in plan.steps if s.kind == "poll_close"}
    arrived = {s.subject: s.at for s in plan.steps if s.kind == "scan" and not s.again}
    reactions = [s for s in plan.steps if s.kind == "react"]
    assert reactions
    for reaction in reactions:
        assert reaction.poll is not None and reaction.choice in range(len(REACTIONS))
        assert opens[reaction.poll] <= reaction.at < closes[reaction.poll]
        assert reaction.at > arrived[reaction.subject]
    per_person = Counter((r.subject, r.poll) for r in reactions)
    assert max(per_person.values()) <= MAX_REACTIONS
    assert len({subject for subject, _ in per_person}) < 400  # only some react


def test_steps_are_in_time_order_and_announcements_spread_over_the_day() -> None:
    plan = plan_day(DayConfig(attendees=50, duration_s=10, announcements=5))
    times = [s.at for s in plan.steps]
    assert times == sorted(times)
    assert [s.at for s in plan.steps if s.kind == "announce"] == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert plan.count("purchase") == 50


def test_no_polls_means_no_votes() -> None:
    plan = plan_day(DayConfig(attendees=50, polls=0))
    kinds = {s.kind for s in plan.steps}
    assert not {"poll_open", "poll_close", "vote", "react", "ask", "upvote"} & kinds
    assert plan.quizzes == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"attendees": 0},
        {"gates": 0},
        {"duration_s": 0},
        {"polls": -1},
        {"vote_share": 1.5},
        {"react_share": -0.1},
        {"ask_share": 2},
        {"upvote_share": -1},
        {"quiz_every": -1},
        {"announcements": -1},
    ],
)
def test_a_config_that_describes_no_day_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DayConfig(**bad)  # type: ignore[arg-type]


def test_every_second_poll_is_a_quiz_whose_answers_land_within_its_time_limit() -> None:
    d = 60.0
    plan = plan_day(DayConfig(attendees=300, duration_s=d, polls=4, vote_share=0.8))
    assert [correct is None for correct in plan.quizzes] == [True, False, True, False]
    assert all(c in range(len(POLL_OPTIONS)) for c in plan.quizzes if c is not None)
    assert plan.quiz_limit_s == quiz_limit(plan.config) == 8  # a slot of 7.5 s, rounded up
    opens = {s.subject: s.at for s in plan.steps if s.kind == "poll_open"}
    answers = [s for s in plan.steps if s.kind == "vote" and plan.quizzes[s.poll or 0] is not None]
    assert answers
    for answer in answers:
        assert answer.poll is not None
        assert answer.at < opens[answer.poll] + 0.7 * plan.quiz_limit_s
    assert [c is None for c in plan_day(DayConfig(polls=3, quiz_every=0)).quizzes] == [True] * 3
    assert [c is None for c in plan_day(DayConfig(polls=3, quiz_every=1)).quizzes] == [False] * 3


@pytest.mark.parametrize(("duration", "limit"), [(1.0, 5), (60.0, 15), (10_000.0, 600)])
def test_a_quiz_time_limit_is_its_slot_within_the_hubs_bounds(duration: float, limit: int) -> None:
    assert quiz_limit(DayConfig(duration_s=duration, polls=2)) == limit


def test_questions_are_asked_in_sessions_by_a_few_and_upvoted_later_by_others() -> None:
    d = 60.0
    config = DayConfig(attendees=400, duration_s=d, polls=3, ask_share=0.1, upvote_share=0.4)
    plan = plan_day(config)
    opens = {s.subject: s.at for s in plan.steps if s.kind == "poll_open"}
    closes = {s.subject: s.at for s in plan.steps if s.kind == "poll_close"}
    arrived = {s.subject: s.at for s in plan.steps if s.kind == "scan" and not s.again}
    asks = {(s.poll, s.choice): s for s in plan.steps if s.kind == "ask"}
    assert len(asks) == plan.count("ask")  # each question numbered once in its session
    for (poll, number), ask in asks.items():
        assert poll is not None and opens[poll] <= ask.at < closes[poll]
        assert ask.at > arrived[ask.subject]
        assert number in range(sum(1 for p, _ in asks if p == poll))
    per_person = Counter(ask.subject for ask in asks.values())
    assert 0 < len(per_person) < 400 / 2 and max(per_person.values()) <= MAX_QUESTIONS
    upvotes = [s for s in plan.steps if s.kind == "upvote"]
    assert upvotes
    for upvote in upvotes:
        question = asks[(upvote.poll, upvote.choice)]
        assert question.at <= upvote.at < closes[question.poll or 0]
        assert upvote.at > arrived[upvote.subject] and upvote.subject != question.subject
    ballots = Counter((u.subject, u.poll, u.choice) for u in upvotes)
    assert max(ballots.values()) == 1  # one upvote per person and question
    assert max(Counter((u.subject, u.poll) for u in upvotes).values()) <= MAX_UPVOTES
    quiet = plan_day(DayConfig(attendees=400, duration_s=d, polls=3, ask_share=0))
    assert not {"ask", "upvote"} & {s.kind for s in quiet.steps}
