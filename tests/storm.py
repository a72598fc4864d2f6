"""A storm of scans, holds and votes on a stage set for it, sent as real clients send,
and the checks a storm ends with.

Every scan and hold carries a nonce, and a request answered `timeout` or
`unavailable` (its worker died with it, say) is sent again unchanged: the
contract of docs/checkin.md §Nonces, docs/allocation.md (Retries) and
docs/engagement.md (Votes). A door or a buyer whose answer was lost resends too:
about one scan and hold in four is sent a second time and must answer the same.
The stage's `Ledger` keeps every final answer; `check_storm` holds PostgreSQL to it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bilten.infra.settings import Settings
from bilten.protocol.commands import COMMANDS
from tests.allocation.helpers import Crowd, Venue, check_holds, db, make_venue, ok
from tests.engagement.helpers import PollsView, make_poll
from tests.engagement.storm import RETRYABLE, Tally, check_answers, settles, voter
from tests.hub.helpers import Raw
from tests.metrics.helpers import DashboardView

# A ticket's scans: (gate, direction, the reason it is refused, None when let through).
PATTERNS = (
    (("north", "in", None),),
    (("south", "in", None), ("south", "in", "already_inside")),
    (("north", "in", None), ("north", "out", None)),
)
LOST = 0.25  # the share of scans and holds whose answer is "lost" and the request resent
VOTE_LANES = 4  # voters voting at the same time
GA_SPARE = 12  # GA places left for the buyers beyond the tickets issued


@dataclass(frozen=True, slots=True)
class Scanned:
    """One scan sent: its code and direction, the reason expected, the verdict answered."""

    code: str
    direction: str
    reason: str | None
    verdict: dict[str, Any]


@dataclass
class Ledger:
    """Every final answer of a storm, and how many each worker gave."""

    scans: dict[str, Scanned] = field(default_factory=dict)  # by nonce
    holds: list[dict[str, Any]] = field(default_factory=list)  # check_holds entries
    votes: Tally = field(default_factory=Tally)
    answered: Counter[str] = field(default_factory=Counter)  # by worker
    actions: list[tuple[str, int, Callable[[], None]]] = field(default_factory=list)

    def at(self, worker: str, n: int, action: Callable[[], None]) -> None:
        """Run `action` the moment `worker` has given its `n`th answer, before the next."""
        self.actions.append((worker, n, action))

    def answer(self, method: str) -> None:
        """Count a final answer (neither `timeout` nor `unavailable`) to `method`."""
        worker = COMMANDS[method].worker
        assert worker is not None, method
        self.answered[worker] += 1
        for name, n, action in self.actions:
            if name == worker and self.answered[worker] == n:
                action()


async def settled(raw: Raw, method: str, params: dict[str, Any], ledger: Ledger) -> Any:
    """The result of the first reply that is not `timeout` or `unavailable`, sending
    `params` again unchanged after each that is (any other error fails the test)."""
    while True:
        reply = await raw.call(method, params)
        if reply["op"] != "error" or reply["error"]["code"] not in RETRYABLE:
            ledger.answer(method)
            return ok(reply)


async def scanner(
    staff: Raw, name: str, event_id: int, codes: list[str], rng: random.Random, ledger: Ledger
) -> None:
    """Entries, exits, re-entries at two gates, doubles (already_inside) and a forgery,
    each with a nonce of its own (`name:sequence`)."""
    sent = [(code, *scan) for code in codes for scan in rng.choice(PATTERNS)]
    for seq, (code, gate, direction, reason) in enumerate(
        [*sent, ("forged", "north", "in", "invalid")]
    ):
        params = {
            "event_id": event_id,
            "code": code,
            "gate": gate,
            "direction": direction,
            "nonce": f"{name}:{seq:06d}",
        }
        verdict = await settled(staff, "checkin.scan", params, ledger)
        ledger.scans[params["nonce"]] = Scanned(code, direction, reason, verdict)
        if rng.random() < LOST:
            again = await settled(staff, "checkin.scan", params, ledger)
            assert again == verdict, (again, verdict)


async def buyer(raw: Raw, name: str, venue: Venue, rng: random.Random, ledger: Ledger) -> None:
    """Holds of seats and GA places (each with a nonce), then confirmed, released or kept."""
    for seq in range(6):
        if rng.random() < 0.5:
            kind, ask = "best", {"ticket_type_id": venue.parter, "quantity": rng.randint(1, 3)}
        else:
            kind, ask = "ga", {"ticket_type_id": venue.ga, "quantity": rng.randint(1, 2)}
        params = {"event_id": venue.event_id, **ask, "nonce": f"{name}:{seq:04d}"}
        answer = await settled(raw, "seats.hold", params, ledger)
        entry = {"kind": kind, "ask": ask, "answer": answer, "end": "kept"}
        ledger.holds.append(entry)
        if answer["status"] != "held":
            continue
        if rng.random() < LOST:
            again = await settled(raw, "seats.hold", params, ledger)
            assert again["hold_id"] == answer["hold_id"], (again, answer)
        then = rng.random()
        if then < 0.5:
            order = await settled(raw, "seats.confirm", {"hold_id": answer["hold_id"]}, ledger)
            assert order["status"] == "confirmed", order
            entry["end"] = "confirmed"
        elif then < 0.75:
            released = await settled(raw, "seats.release", {"hold_id": answer["hold_id"]}, ledger)
            assert released["status"] == "released", released
            entry["end"] = "released"


async def vote_all(crowd: Crowd, server: Any, make_token: Any, stage: Stage, subs: range) -> None:
    """Attendees `voter-{i}` for i in `subs`, each voting once over REST (A or B by
    turns), again after `timeout` or `unavailable`; VOTE_LANES at a time."""
    rest = crowd.rest(server)

    async def lane(first: int) -> None:
        for i in subs[first::VOTE_LANES]:
            sub = f"voter-{i}"
            token = make_token("attendee", sub=sub, events=[stage.event_id])
            await voter([rest], token, sub, stage.poll_id, i % 2, stage.ledger.votes, sends=1)
            stage.ledger.answer("polls.vote")

    await asyncio.gather(*(lane(first) for first in range(VOTE_LANES)))


@dataclass(slots=True)
class Stage:
    """An event set up for a storm: its venue, tickets, an open poll, the people, the
    screen, and the ledger of what the storm was answered."""

    venue: Venue
    codes: list[str]
    poll_id: int
    staff: list[Raw]
    buyers: list[Raw]
    audience: list[Raw]  # kept: three attendees online on the dashboard
    view: DashboardView
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def event_id(self) -> int:
        return self.venue.event_id


async def set_stage(
    crowd: Crowd, server: Any, make_token: Any, *, tickets: int, buyers: int, doors: int = 1
) -> Stage:
    """Two gates, `tickets` GA tickets, two open polls, three questions (one answered),
    three attendees on the polls channel, `doors` scanners, `buyers` buyers and an
    organizer's screen already watching the dashboard."""
    organizer = await crowd.connect(server, make_token("organizer"))
    venue = await make_venue(organizer, rows=3, seats=10, ga_quota=tickets + GA_SPARE)
    event_id = venue.event_id
    ok(await organizer.call("gates.set", {"event_id": event_id, "gates": ["north", "south"]}))
    issued = ok(
        await organizer.call(
            "tickets.issue",
            {
                "event_id": event_id,
                "ticket_type_id": venue.ga,
                "count": tickets,
                "holder": "Amra H.",
            },
        )
    )
    session = ok(
        await organizer.call("sessions.create", {"event_id": event_id, "title": "Keynote"})
    )
    poll = await make_poll(organizer, session["id"], "single", options=["A", "B"])
    await make_poll(organizer, session["id"], "single", options=["C", "D"])
    asker = await crowd.connect(server, make_token("attendee", sub="asker", events=[event_id]))
    asked = [
        ok(
            await asker.call(
                "qa.ask", {"event_id": event_id, "session_id": session["id"], "text": q}
            )
        )
        for q in ("Why?", "How?", "When?")
    ]
    ok(
        await organizer.call(
            "qa.moderate",
            {"event_id": event_id, "question_id": asked[0]["id"], "action": "answered"},
        )
    )
    audience = [
        await crowd.connect(server, make_token("attendee", sub=f"fan-{i}", events=[event_id]))
        for i in range(3)
    ]
    for fan in audience:
        assert (await fan.subscribe(f"event.{event_id}.polls"))["op"] == "subscribed"
    staff = [
        await crowd.connect(server, make_token("staff", sub=f"door-{i}", events=[event_id]))
        for i in range(doors)
    ]
    people = [
        await crowd.connect(server, make_token("attendee", sub=f"buyer-{i}", events=[event_id]))
        for i in range(buyers)
    ]
    screen = await crowd.connect(server, make_token("organizer", sub="screen"))
    view = DashboardView(screen, event_id, crowd.patience)
    await view.start()
    codes = [t["code"] for t in issued["tickets"]]
    return Stage(venue, codes, poll["id"], staff, people, audience, view)


async def storm_part(
    stage: Stage,
    crowd: Crowd,
    server: Any,
    make_token: Any,
    part: int,
    rng: random.Random,
    *,
    voters: int,
    parts: int = 2,
) -> None:
    """One of `parts` parts of the storm (`part` counts from 0): that share of the tickets
    scanned (divided among the doors), of the buyers and of the voters, all at once."""
    share = len(stage.codes) // parts
    codes = stage.codes[part * share : (part + 1) * share]
    doors = len(stage.staff)
    await asyncio.gather(
        *(
            scanner(raw, f"door-{d}-{part}", stage.event_id, codes[d::doors], rng, stage.ledger)
            for d, raw in enumerate(stage.staff)
        ),
        *(
            buyer(stage.buyers[b], f"buyer-{b}", stage.venue, rng, stage.ledger)
            for b in range(part, len(stage.buyers), parts)
        ),
        vote_all(crowd, server, make_token, stage, range(part, voters, parts)),
    )


async def check_scans(settings: Settings, event_id: int, ledger: Ledger) -> None:
    """Every scan answered is stored once, as answered and as expected; every ticket
    came in exactly once, and the inside counters count those still inside."""
    rows = await db(
        settings,
        "SELECT nonce, ticket_id, direction, status, reason FROM scans WHERE event_id = $1",
        event_id,
    )
    stored = {r["nonce"]: r for r in rows}
    assert sorted(stored) == sorted(ledger.scans), "a scan stored but never answered, or lost"
    for nonce, scanned in ledger.scans.items():
        expected = ("ok" if scanned.reason is None else "rejected", scanned.reason)
        assert (scanned.verdict["status"], scanned.verdict["reason"]) == expected, scanned
        assert (stored[nonce]["status"], stored[nonce]["reason"]) == expected, dict(stored[nonce])
    entries = Counter(
        r["ticket_id"] for r in rows if r["status"] == "ok" and r["direction"] == "in"
    )
    tickets = {s.code for s in ledger.scans.values() if s.reason != "invalid"}
    assert len(entries) == len(tickets) and set(entries.values()) == {1}, entries
    last: dict[str, str] = {}
    for scanned in ledger.scans.values():
        if scanned.reason is None:
            last[scanned.code] = scanned.direction
    inside = sum(1 for direction in last.values() if direction == "in")
    [row] = await db(
        settings,
        """SELECT (SELECT count(*) FROM ticket_presence p JOIN tickets t ON t.id = p.ticket_id
                    WHERE t.event_id = $1 AND p.inside) AS present,
                  (SELECT coalesce(sum(n), 0) FROM inside_counts WHERE event_id = $1) AS counted""",
        event_id,
    )
    assert (row["present"], row["counted"]) == (inside, inside), (dict(row), inside)


async def check_storm(
    settings: Settings, stage: Stage, crowd: Crowd, server: Any, make_token: Any, *, voters: int
) -> None:
    """PostgreSQL, the poll's counters and its channel agree with every answer the storm
    got (asked on new connections: the stage's idle ones may have missed a ping)."""
    await check_scans(settings, stage.event_id, stage.ledger)
    issued = len(stage.codes)
    await check_holds(settings, stage.venue, stage.ledger.holds, issued + GA_SPARE, issued=issued)
    check_answers(stage.ledger.votes, voters, 1)
    organizer = await crowd.connect(server, make_token("organizer"))
    token = make_token("attendee", sub="watcher", events=[stage.event_id])
    watcher = await PollsView.start(await crowd.connect(server, token), stage.event_id)
    await settles(settings, organizer, watcher, stage.poll_id, voters, 2)
