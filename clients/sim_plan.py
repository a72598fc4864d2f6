"""The plan of a simulated event day (docs/simulate.md): who buys, arrives and votes, when.

Pure and deterministic: the same `DayConfig`, seed included, always gives the
same plan, so a run can be repeated and the planning is tested without a
hub. A whole day is compressed into `duration_s` seconds of the run; every
time below is seconds from the run's start. The shape of the day:

- the ticket sale opens at 0 with a rush that decays (exponential arrival
  of buyers over the first `SALE` share of the day);
- doors open during the sale, and people arrive at the gates on a curve
  that peaks before the show (triangular), the first gates busier than the
  last; a few are scanned twice (a second, refused entry scan);
- sessions follow, each with a poll open for most of its slot (every
  `quiz_every`-th one a quiz question with a correct option and a time
  limit): attendees already inside vote in it, the first options more
  popular, some react (applause, laughter) a few times during the session,
  a few ask a question and others upvote the questions asked before;
- organizers post announcements through the day (the fan-out probe).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from bilten.protocol.polls import QUIZ_LIMIT_S
from bilten.protocol.qa import REACTIONS

# Shares of the day: (start, end) as fractions of `duration_s`.
SALE = (0.0, 0.3)
DOORS = (0.15, 0.75)
SESSIONS = (0.45, 0.95)
# A buyer arrives at least this share of the day after buying.
ARRIVAL_GAP = 0.02
# How long after the first scan a second one comes, as a share of the day.
RESCAN_AFTER = 0.02
POLL_OPTIONS = ("Main stage", "Workshops", "Food court", "Meeting people")

StepKind = Literal[
    "purchase", "scan", "poll_open", "poll_close", "vote", "react", "ask", "upvote", "announce"
]
# At most this many reactions by one attendee in a session (the hub allows 20 per 10 s).
MAX_REACTIONS = 3
# At most this many questions by one attendee in the whole day (the hub allows 5 per 60 s),
# and in one session (an organizer's `qa.list` holds 500, the room's lists 200).
MAX_QUESTIONS = 5
MAX_SESSION_QUESTIONS = 200
# At most this many questions upvoted by one attendee in a session.
MAX_UPVOTES = 3


@dataclass(frozen=True, slots=True)
class DayConfig:
    """The size and character of the day: the flags of `bilten simulate`."""

    attendees: int = 200
    gates: int = 2
    duration_s: float = 30.0
    seed: int = 1
    polls: int = 2
    organizers: int = 2
    announcements: int = 10
    rescan_share: float = 0.05
    vote_share: float = 0.6
    react_share: float = 0.3
    quiz_every: int = 2
    ask_share: float = 0.05
    upvote_share: float = 0.3

    def __post_init__(self) -> None:
        if self.attendees < 1 or self.gates < 1 or self.polls < 0 or self.organizers < 1:
            raise ValueError("attendees, gates and organizers are at least 1, polls at least 0")
        if self.duration_s <= 0 or self.announcements < 0 or self.quiz_every < 0:
            raise ValueError("the duration is positive, announcements and quiz_every at least 0")
        shares = (
            self.rescan_share,
            self.vote_share,
            self.react_share,
            self.ask_share,
            self.upvote_share,
        )
        if not all(0 <= share <= 1 for share in shares):
            raise ValueError("shares are between 0 and 1")


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that happens at `at`: `subject` is a buyer, poll or announcement index.

    `gate` is set on scans, `poll` (the session's index) on votes,
    reactions, questions and upvotes, `choice` on votes (an option),
    reactions (a reaction), questions and upvotes (the question's number in
    its session, in the order the plan made them);
    `again` marks the second scan of a ticket (the hub must refuse it:
    `already_inside`).
    """

    at: float
    kind: StepKind
    subject: int
    gate: str | None = None
    poll: int | None = None
    choice: int | None = None
    again: bool = False


@dataclass(frozen=True, slots=True)
class DayPlan:
    """Every step of the day in time order, and what the driver sets up for them: the
    gates, and per poll the correct option of a quiz question (None: a plain poll), whose
    time limit is `quiz_limit_s`."""

    config: DayConfig
    gates: tuple[str, ...]
    steps: tuple[Step, ...]
    quizzes: tuple[int | None, ...]
    quiz_limit_s: int

    def count(self, kind: StepKind) -> int:
        """How many steps of `kind` the day has."""
        return sum(1 for step in self.steps if step.kind == kind)


def gate_names(gates: int) -> tuple[str, ...]:
    """`gate-1`, `gate-2`, …: the event's gates."""
    return tuple(f"gate-{n}" for n in range(1, gates + 1))


def plan_day(config: DayConfig) -> DayPlan:
    """The day's steps for `config`, sorted by time (ties in a fixed order)."""
    rng = random.Random(config.seed)
    d = config.duration_s
    gates = gate_names(config.gates)
    steps: list[Step] = []
    bought = [_sale_time(rng, d) for _ in range(config.attendees)]
    arrived: list[float] = []
    weights = [config.gates - n for n in range(config.gates)]  # the first gate busiest
    for buyer, at in enumerate(bought):
        steps.append(Step(at, "purchase", buyer))
        door_at = max(_door_time(rng, d), at + ARRIVAL_GAP * d)
        arrived.append(door_at)
        gate = rng.choices(gates, weights)[0]
        steps.append(Step(door_at, "scan", buyer, gate=gate))
        if rng.random() < config.rescan_share:
            steps.append(Step(door_at + RESCAN_AFTER * d, "scan", buyer, gate=gate, again=True))
    quizzes = _quizzes(rng, config)
    steps.extend(_sessions(rng, config, arrived, quizzes))
    for n in range(config.announcements):
        steps.append(Step((n + 0.5) * d / config.announcements, "announce", n))
    order = {
        "poll_open": 0,
        "announce": 1,
        "purchase": 2,
        "scan": 3,
        "vote": 4,
        "react": 5,
        "ask": 6,
        "upvote": 7,
        "poll_close": 8,
    }
    steps.sort(key=lambda s: (s.at, order[s.kind], s.subject))
    return DayPlan(config, gates, tuple(steps), quizzes, quiz_limit(config))


def quiz_limit(config: DayConfig) -> int:
    """A quiz question's time limit: its session's slot in whole seconds, within the
    hub's bounds, so it outlasts the poll's planned opening unless that is over 600 s."""
    slot = (SESSIONS[1] - SESSIONS[0]) * config.duration_s / max(config.polls, 1)
    return min(max(math.ceil(slot), QUIZ_LIMIT_S[0]), QUIZ_LIMIT_S[1])


def _quizzes(rng: random.Random, config: DayConfig) -> tuple[int | None, ...]:
    """Every `quiz_every`-th poll (the second, the fourth, …) is a quiz: its correct option."""
    every = config.quiz_every
    return tuple(
        rng.randrange(len(POLL_OPTIONS)) if every and poll % every == every - 1 else None
        for poll in range(config.polls)
    )


def _sale_time(rng: random.Random, d: float) -> float:
    """A rush at the opening that decays: most buyers in the first fifth of the sale."""
    start, end = SALE[0] * d, SALE[1] * d
    at = start + rng.expovariate(5.0 / (end - start))
    return at if at < end else rng.uniform(start, end)


def _door_time(rng: random.Random, d: float) -> float:
    """Arrivals peak a third of the way into the doors' window."""
    start, end = DOORS[0] * d, DOORS[1] * d
    return rng.triangular(start, end, start + (end - start) / 3)


def _sessions(
    rng: random.Random, config: DayConfig, arrived: list[float], quizzes: tuple[int | None, ...]
) -> list[Step]:
    """A poll per session, each open for most of its slot; votes, reactions, questions and
    upvotes from people inside, within the poll's opening (a quiz's answers within 70 % of
    its time limit too, to land before its clock runs out)."""
    if not config.polls:
        return []
    d = config.duration_s
    start, end = SESSIONS[0] * d, SESSIONS[1] * d
    slot = (end - start) / config.polls
    weights = [len(POLL_OPTIONS) - n for n in range(len(POLL_OPTIONS))]
    steps: list[Step] = []
    asked = [0] * len(arrived)
    for poll in range(config.polls):
        opens, closes = start + poll * slot, start + (poll + 0.8) * slot
        last_vote = opens + 0.7 * slot  # leave the vote time to land before the close
        if quizzes[poll] is not None:
            last_vote = min(last_vote, opens + 0.7 * quiz_limit(config))
        steps += [Step(opens, "poll_open", poll), Step(closes, "poll_close", poll)]
        for buyer, door_at in enumerate(arrived):
            if rng.random() >= config.vote_share:
                continue
            at = max(rng.uniform(opens, opens + 0.6 * slot), door_at + ARRIVAL_GAP * d)
            if at < last_vote:
                choice = rng.choices(range(len(POLL_OPTIONS)), weights)[0]
                steps.append(Step(at, "vote", buyer, poll=poll, choice=choice))
        for buyer, door_at in enumerate(arrived):
            if rng.random() >= config.react_share:
                continue
            for _ in range(rng.randint(1, MAX_REACTIONS)):
                at = max(rng.uniform(opens, opens + 0.7 * slot), door_at + ARRIVAL_GAP * d)
                if at < closes:
                    reaction = rng.randrange(len(REACTIONS))
                    steps.append(Step(at, "react", buyer, poll=poll, choice=reaction))
        steps += _questions(rng, config, arrived, asked, poll, (opens, slot))
    return steps


def _questions(
    rng: random.Random,
    config: DayConfig,
    arrived: list[float],
    asked: list[int],
    poll: int,
    session: tuple[float, float],
) -> list[Step]:
    """A session's questions, asked in the first half of its opening by people inside
    (`asked`: each one's questions so far in the day), and upvotes of them by others,
    each after the question and before the close, never twice by one person; `session`:
    the poll's opening time and the session's slot."""
    d = config.duration_s
    opens, slot = session
    closes = opens + 0.8 * slot
    questions: list[tuple[float, int]] = []  # when and by whom, by number
    steps: list[Step] = []
    for buyer, door_at in enumerate(arrived):
        if rng.random() >= config.ask_share or len(questions) >= MAX_SESSION_QUESTIONS:
            continue
        at = max(rng.uniform(opens, opens + 0.5 * slot), door_at + ARRIVAL_GAP * d)
        if at < opens + 0.6 * slot and asked[buyer] < MAX_QUESTIONS:
            asked[buyer] += 1
            steps.append(Step(at, "ask", buyer, poll=poll, choice=len(questions)))
            questions.append((at, buyer))
    for buyer, door_at in enumerate(arrived):
        if not questions or rng.random() >= config.upvote_share:
            continue
        picked = rng.sample(range(len(questions)), min(len(questions), rng.randint(1, MAX_UPVOTES)))
        for number in picked:
            asked_at, author = questions[number]
            at = max(rng.uniform(asked_at, opens + 0.7 * slot), door_at + ARRIVAL_GAP * d)
            if author != buyer and at < closes:
                steps.append(Step(at, "upvote", buyer, poll=poll, choice=number))
    return steps
