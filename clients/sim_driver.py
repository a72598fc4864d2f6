"""Runs a `DayPlan` through a real hub with SDK clients (docs/simulate.md).

One organizer client sets the event up (gates, a general-admission ticket
type with a quota of one place per planned buyer, a session with a poll or
quiz question per planned poll, Q&A without approval) and runs the
organizer's steps; `organizers` more watch the dashboard; each gate has door
devices (staff tokens limited to that gate); each buyer connects when the
plan says they buy, stays connected, listens to the announcements and polls
channels, holds a place, confirms it, is scanned at the door with the
ticket's code, votes, reacts, asks and upvotes questions. Every answer and
delivery goes into a `DayStats`. After the last step the day settles: the
organizers' dashboard must show as many people inside as the doors admitted
and as many tickets sold as were confirmed, every second scan must have been
refused, the polls must count as many voters as votes were acknowledged, the
quizzes as many right answers, the reactions channel as many reactions,
the sessions as many questions and each question as many upvotes: the
day's `truths`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bilten.clients.sdk import BiltenClient, Publication, Subscription
from bilten.clients.sim_plan import DayPlan, Step
from bilten.clients.sim_setup import Minter, box_office, mint_attendees, set_up
from bilten.clients.sim_stats import DayStats, Latency
from bilten.protocol import errors
from bilten.protocol.qa import REACTIONS

DOORS_PER_GATE = 2
SETTLE_S = 30.0
# Idempotent commands sent again after a timeout or a lost connection until answered, for up
# to RETRY_FOR_S: holds and scans by their nonce, confirms by their hold, votes by the ballot,
# upvotes by the upvote (one per attendee and question).
# A client that gave up early would leave an order or an entry it never heard of, and the
# truths would judge the client's patience rather than the stack.
RETRIED = frozenset({"seats.hold", "seats.confirm", "checkin.scan", "polls.vote", "qa.upvote"})
RETRY_FOR_S = 60.0
RETRY_PAUSE_S = 0.5
RETRY_PAUSE_MAX_S = 8.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where the day runs: the hub's WebSocket URL, an organizer token, a token minter."""

    ws_url: str
    organizer: str
    mint: Minter


@dataclass(frozen=True, slots=True)
class Truth:
    """A figure the stack must agree on once the day is quiet.

    `unknown` is how many more it may show: commands that were never
    answered and cannot be resent safely (a reaction, a question), which the stack may
    or may not have counted.
    """

    name: str
    expected: int
    observed: int | None
    unknown: int = 0

    @property
    def holds(self) -> bool:
        """Whether the observed figure is the expected one (give or take the unknown)."""
        observed = self.observed
        return observed is not None and self.expected <= observed <= self.expected + self.unknown


@dataclass(frozen=True, slots=True)
class DayResult:
    """What a run leaves besides its `DayStats`: the event and the truths checked."""

    event_id: int
    truths: tuple[Truth, ...]
    dashboard: dict[str, Any] | None


@dataclass(slots=True)
class _Buyer:
    token: str = ""
    client: BiltenClient | None = None
    code: asyncio.Future[str | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    scanned: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Poll:
    """A session and its poll: votes wait until it is open, its close until they are
    answered; `correct` is a quiz question's correct option. Upvotes wait for their
    question's id (None: the question was not acknowledged), by its number in the plan."""

    session_id: int
    id: int
    correct: int | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    opened_at: float = 0.0
    ballots: list[asyncio.Future[None]] = field(default_factory=list)
    questions: dict[int, asyncio.Future[int | None]] = field(default_factory=dict)
    upvotes: Counter[int] = field(default_factory=Counter)  # acknowledged, by question id

    def question(self, number: int) -> asyncio.Future[int | None]:
        """The id of the session's question `number`, once its asking is answered."""
        if number not in self.questions:
            self.questions[number] = asyncio.get_running_loop().create_future()
        return self.questions[number]


@dataclass(slots=True)
class _Day:
    """The run's clients and state; its handlers are the plan's step kinds."""

    target: Target
    plan: DayPlan
    stats: DayStats
    tasks: asyncio.TaskGroup
    organizer: BiltenClient
    event_id: int
    ticket_type_id: int
    polls: list[_Poll]
    buyers: list[_Buyer]
    doors: dict[str, itertools.cycle[tuple[str, BiltenClient]]] = field(default_factory=dict)
    clients: list[BiltenClient] = field(default_factory=list)
    dashboard: dict[str, Any] | None = None
    reacted: int = 0  # reactions counted on the channel
    shown: asyncio.Event = field(default_factory=asyncio.Event)  # a new dashboard or window
    nonces: itertools.count[int] = field(default_factory=itertools.count)
    lost: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # never answered

    async def connect(self, token: str) -> BiltenClient:
        """A connected client, counted, closed with the day."""
        client = BiltenClient(self.target.ws_url, token)
        await client.connect()
        self.clients.append(client)
        self.stats.connected()
        return client

    async def command(
        self, kind: Latency | None, client: BiltenClient, method: str, **params: Any
    ) -> Any:
        """One rpc, timed as `kind` (None: not measured); a refusal is counted and returned
        as None. A command `RETRIED` is sent again after a timeout or a lost connection, as
        a careful client would (each is idempotent: docs/simulate.md §The day); a vote or
        upvote resent and answered `already_voted` or `already_upvoted` was stored the first
        time."""
        started = time.perf_counter_ns()
        give_up = time.monotonic() + (RETRY_FOR_S if method in RETRIED else 0.0)
        sent = 0
        while True:
            sent += 1
            try:
                result = await client.rpc(method, params)
            except (errors.AlreadyVoted, errors.AlreadyUpvoted) as error:
                if sent == 1:
                    self.stats.failed(error.code)
                    return None
                result = {"stored_before": True}
            except (errors.Timeout, errors.Unavailable) as error:
                self.stats.failed(error.code)
                pause = min(RETRY_PAUSE_MAX_S, RETRY_PAUSE_S * 2 ** (sent - 1))
                if time.monotonic() + pause < give_up:
                    await asyncio.sleep(pause)  # backing off: a storm of resends feeds itself
                    continue
                self.stats.outcomes[f"unanswered_{method}"] += 1  # done, or not
                self.lost.append((method, params))
                return None
            except errors.BiltenError as error:
                self.stats.failed(error.code)
                return None
            self.stats.answered(kind, started)
            return result

    def listen(self, sub: Subscription, on: Callable[[Publication], None]) -> None:
        """Consume `sub` in its own task (a full queue would stall the connection)."""

        async def consume() -> None:
            with contextlib.suppress(errors.BiltenError):
                async for item in sub:
                    if isinstance(item, Publication):
                        on(item)

        self.tasks.create_task(consume())

    def start(self, step: Step) -> Coroutine[Any, Any, None]:
        """What carries out one step of the plan; a vote is registered with its poll at
        once, so the poll's close (a later step) waits for it."""
        if step.kind == "purchase":
            return self.purchase(step.subject)
        if step.kind == "scan":
            return self.scan(step)
        if step.kind == "announce":
            return self.announce(step.subject)
        if step.kind == "react":
            return self.react(step)
        if step.kind == "ask":
            return self.ask(step)
        if step.kind == "upvote":
            return self.upvote(step)
        if step.kind == "vote":
            assert step.poll is not None
            answered = asyncio.get_running_loop().create_future()
            self.polls[step.poll].ballots.append(answered)
            return self.vote(step, answered)
        return self.open_or_close(step)

    async def open_or_close(self, step: Step) -> None:
        poll = self.polls[step.subject]
        if step.kind == "poll_open":
            await self.command(None, self.organizer, "polls.open", poll_id=poll.id)
            poll.opened_at = time.monotonic()
            poll.opened.set()  # a failed open is seen in the votes' errors
        else:
            if poll.ballots:
                await asyncio.wait(poll.ballots)
            if poll.correct is not None and (
                time.monotonic() - poll.opened_at >= self.plan.quiz_limit_s
            ):
                return  # the quiz question closed itself when its time was up
            await self.command(None, self.organizer, "polls.close", poll_id=poll.id)

    async def purchase(self, n: int) -> None:
        buyer = self.buyers[n]
        try:
            buyer.client = await self.connect(buyer.token)
            for topic in ("announcements", "polls"):
                sub = await buyer.client.subscribe(f"event.{self.event_id}.{topic}")
                self.listen(sub, _on_publication(self.stats))
        except errors.BiltenError as error:
            self.stats.failed(error.code)
            buyer.code.set_result(None)
            return
        hold = await self.command(
            "hold",
            buyer.client,
            "seats.hold",
            event_id=self.event_id,
            ticket_type_id=self.ticket_type_id,
            quantity=1,
            nonce=f"sim-hold-{n:08d}",
        )
        if hold is None or hold["status"] != "held":
            self.stats.outcomes[f"hold_{hold['reason'] if hold else 'failed'}"] += 1
            buyer.code.set_result(None)
            return
        order = await self.command(
            "confirm", buyer.client, "seats.confirm", hold_id=hold["hold_id"], holder=f"Guest {n}"
        )
        if order is None or order["status"] != "confirmed":
            buyer.code.set_result(None)
            return
        self.stats.outcomes["confirmed"] += 1
        self.stats.tick("sales")
        buyer.code.set_result(order["tickets"][0]["code"])

    async def scan(self, step: Step) -> None:
        assert step.gate is not None
        buyer = self.buyers[step.subject]
        code = await buyer.code
        if code is None:
            return  # no ticket: nothing to scan
        if step.again:
            await buyer.scanned.wait()
        nonce_prefix, door = next(self.doors[step.gate])
        verdict = await self.command(
            "verdict",
            door,
            "checkin.scan",
            event_id=self.event_id,
            code=code,
            gate=step.gate,
            direction="in",
            nonce=f"{nonce_prefix}:{next(self.nonces):08d}",
        )
        buyer.scanned.set()
        if verdict is None:
            return
        self.stats.tick("scans")
        if verdict["status"] == "ok":
            self.stats.outcomes["admitted"] += 1
        else:
            self.stats.outcomes[f"refused_{verdict['reason']}"] += 1
        if step.again:
            self.stats.outcomes["second_scans"] += 1

    async def vote(self, step: Step, answered: asyncio.Future[None]) -> None:
        assert step.poll is not None
        poll, buyer = self.polls[step.poll], self.buyers[step.subject]
        try:
            await poll.opened.wait()
            if buyer.client is None:
                return  # never connected
            voted = await self.command(
                "vote", buyer.client, "polls.vote", poll_id=poll.id, choice=step.choice
            )
        finally:
            answered.set_result(None)
        if voted is not None:
            self.stats.outcomes["votes"] += 1
            self.stats.tick("votes")
            if poll.correct is not None:
                self.stats.outcomes["quiz_answers"] += 1
                self.stats.outcomes["quiz_right"] += step.choice == poll.correct

    async def react(self, step: Step) -> None:
        assert step.poll is not None and step.choice is not None
        poll, buyer = self.polls[step.poll], self.buyers[step.subject]
        if buyer.client is None:
            return  # never connected
        emoji = REACTIONS[step.choice]
        params = {"event_id": self.event_id, "session_id": poll.session_id, "emoji": emoji}
        if await self.command(None, buyer.client, "reactions.send", **params) is not None:
            self.stats.outcomes["reactions"] += 1

    async def ask(self, step: Step) -> None:
        """A question, never resent (a second one would be a second question)."""
        assert step.poll is not None and step.choice is not None
        poll, buyer = self.polls[step.poll], self.buyers[step.subject]
        asked = poll.question(step.choice)
        question = None
        try:
            if buyer.client is not None:  # else never connected
                text = f"Question {step.choice + 1} from attendee {step.subject}?"
                params = {"event_id": self.event_id, "session_id": poll.session_id, "text": text}
                question = await self.command("ask", buyer.client, "qa.ask", **params)
        finally:
            asked.set_result(None if question is None else int(question["id"]))
        if question is not None:
            self.stats.outcomes["questions"] += 1

    async def upvote(self, step: Step) -> None:
        assert step.poll is not None and step.choice is not None
        poll, buyer = self.polls[step.poll], self.buyers[step.subject]
        question_id = await poll.question(step.choice)
        if question_id is None or buyer.client is None:
            return  # no question to upvote, or never connected
        params = {"event_id": self.event_id, "question_id": question_id}
        if await self.command("upvote", buyer.client, "qa.upvote", **params) is not None:
            self.stats.outcomes["upvotes"] += 1
            poll.upvotes[question_id] += 1

    def count_reactions(self, publication: Publication) -> None:
        """A window of reactions on the event's channel, as an organizer sees it."""
        self.stats.delivered()
        self.reacted += sum(publication.data["counts"].values())
        self.shown.set()

    async def announce(self, n: int) -> None:
        data = {"type": "simulation", "n": n, "sent_at": time.time()}
        channel = f"event.{self.event_id}.announcements"
        await self.command(None, self.organizer, "channels.publish", channel=channel, data=data)

    def watch(self, publication: Publication) -> None:
        """An organizer's dashboard publication: the latest is the one shown."""
        self.stats.delivered()
        self.dashboard = publication.data
        self.shown.set()

    async def truths(self) -> tuple[Truth, ...]:
        """Wait for the dashboard to settle on the doors' and sale's counts and the reactions
        channel to count every reaction answered (windows close every 250 ms), then compare."""
        admitted = self.stats.outcomes["admitted"]
        sold = self.stats.outcomes["confirmed"]
        reactions = self.stats.outcomes["reactions"]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_S):
                while not (_settled(self.dashboard, admitted, sold) and self.reacted >= reactions):
                    self.shown.clear()
                    await self.shown.wait()
        board = self.dashboard or {}
        found: list[Truth] = [
            Truth("inside on the dashboard = admitted scans", admitted, board.get("inside")),
            Truth(
                "sold on the dashboard = confirmed holds",
                sold,
                board.get("sales", {}).get("tickets"),
            ),
            Truth(
                "second scans refused as already inside",
                self.stats.outcomes["second_scans"],
                self.stats.outcomes["refused_already_inside"],
            ),
        ]
        if self.polls:
            found += await self.poll_truths()
            found += await self.qa_truths()
            found.append(
                Truth(
                    "reactions on the channel = acknowledged reactions",
                    reactions,
                    self.reacted,
                    self.stats.outcomes["unanswered_reactions.send"],
                )
            )
        return tuple(found)

    async def poll_truths(self) -> list[Truth]:
        """Every poll's voters against the votes acknowledged; the quiz questions' answers,
        and right answers, against those acknowledged."""
        voters = answers = right = 0
        for each in self.polls:
            poll = await self.command(None, self.organizer, "polls.results", poll_id=each.id)
            if poll is None:
                continue  # refused: its ballots are missing from the figures, which then differ
            voters += poll["tally"]["voters"]
            if each.correct is not None:
                answers += poll["tally"]["voters"]
                right += poll["tally"]["counts"][each.correct]
        outcomes = self.stats.outcomes
        found = [Truth("poll voters = acknowledged votes", outcomes["votes"], voters)]
        if any(each.correct is not None for each in self.polls):
            found += [
                Truth("quiz answers = acknowledged answers", outcomes["quiz_answers"], answers),
                Truth(
                    "right quiz answers = acknowledged right answers", outcomes["quiz_right"], right
                ),
            ]
        return found

    async def qa_truths(self) -> list[Truth]:
        """The questions stored against those acknowledged (plus at most those unanswered),
        and each acknowledged question's upvotes against its acknowledged upvotes (plus at
        most its upvotes left unanswered), read as the organizer's `qa.list`."""
        unsure = Counter(
            params["question_id"] for method, params in self.lost if method == "qa.upvote"
        )
        stored = matching = known = 0
        for poll in self.polls:
            listed = await self.command(
                None, self.organizer, "qa.list", event_id=self.event_id, session_id=poll.session_id
            )
            votes = {q["id"]: q["votes"] for q in (listed["questions"] if listed else [])}
            stored += len(votes)
            asked = [q for f in poll.questions.values() if (q := f.result()) is not None]
            known += len(asked)
            matching += sum(
                Truth("upvotes", poll.upvotes[q], votes.get(q), unsure[q]).holds for q in asked
            )
        return [
            Truth(
                "questions stored = acknowledged questions",
                self.stats.outcomes["questions"],
                stored,
                self.stats.outcomes["unanswered_qa.ask"],
            ),
            Truth("questions with their acknowledged upvotes", known, matching),
        ]

    async def aclose(self) -> None:
        """Close every client at once: one by one, a thousand take a while."""
        await asyncio.gather(*(client.aclose() for client in self.clients))
        for _ in self.clients:
            self.stats.disconnected()


def _on_publication(stats: DayStats) -> Callable[[Publication], None]:
    def on(publication: Publication) -> None:
        data = publication.data
        sent = data.get("sent_at") if isinstance(data, dict) else None
        stats.delivered((time.time() - sent) * 1000 if isinstance(sent, float) else None)

    return on


def _settled(board: dict[str, Any] | None, admitted: int, sold: int) -> bool:
    if board is None:
        return False
    return bool(board.get("inside") == admitted and board.get("sales", {}).get("tickets") == sold)


async def run_day(
    target: Target, plan: DayPlan, stats: DayStats, *, scans_only: bool = False
) -> DayResult:
    """Run `plan` against the hub; `scans_only`: the same scans alone (the benchmark's
    baseline), the tickets issued by the box office before the day starts."""
    async with BiltenClient(target.ws_url, target.organizer) as organizer:
        event_id, type_id, polls = await set_up(organizer, plan, scans_only=scans_only)
        buyers = [_Buyer() for _ in range(plan.config.attendees)]
        sessions = [
            _Poll(session_id, poll_id, correct)
            for (session_id, poll_id), correct in zip(polls, plan.quizzes, strict=False)
        ]
        async with asyncio.TaskGroup() as tasks:
            day = _Day(target, plan, stats, tasks, organizer, event_id, type_id, sessions, buyers)
            try:
                return await _run(day, scans_only)
            finally:
                await day.aclose()


async def _run(day: _Day, scans_only: bool) -> DayResult:
    plan, target = day.plan, day.target
    if scans_only:
        codes = await box_office(day.organizer, day.event_id, day.ticket_type_id, len(day.buyers))
        for buyer, code in zip(day.buyers, codes, strict=True):
            buyer.code.set_result(code)
    else:
        subs = [f"sim-{day.event_id}-a{n}" for n in range(len(day.buyers))]
        tokens = await mint_attendees(target.mint, day.event_id, subs)
        for buyer, token in zip(day.buyers, tokens, strict=True):
            buyer.token = token
    for gate in plan.gates:
        devices = []
        for n in range(DOORS_PER_GATE):
            sub = f"sim-{day.event_id}-{gate}-{n}"
            staff = await target.mint("staff", sub, day.event_id, (gate,))
            devices.append((sub, await day.connect(staff)))
        day.doors[gate] = itertools.cycle(devices)
    for n in range(plan.config.organizers):
        watcher = await day.connect(target.organizer)
        board = await watcher.subscribe(f"event.{day.event_id}.dashboard")
        day.dashboard = board.snapshot
        day.listen(board, day.watch)
        if not n and day.polls:  # one of them counts the reactions
            counted = await watcher.subscribe(f"event.{day.event_id}.reactions")
            day.listen(counted, day.count_reactions)
    steps = [s for s in plan.steps if s.kind == "scan"] if scans_only else list(plan.steps)
    day.stats.start()
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with asyncio.TaskGroup() as running:
        for step in steps:
            delay = began + step.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            running.create_task(day.start(step))
    day.stats.finish()
    return DayResult(day.event_id, await day.truths(), day.dashboard)
