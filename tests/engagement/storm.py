"""Voters storming one poll over REST, resending what went unanswered, and the checks
every storm ends with: one ballot per voter, counters and the channel equal to them."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bilten.infra.settings import Settings
from tests.engagement.helpers import PollsView, ok
from tests.hub.helpers import Raw
from tests.waiting import WAIT_S, wait_for

RETRYABLE = {"timeout", "unavailable"}


@dataclass
class Tally:
    """What the voters were answered, per voter, in order."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    done: int = 0
    marks: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    def reached(self, n: int) -> asyncio.Event:
        event = asyncio.Event()
        self.marks.append((n, event))
        return event

    def record(self, voter: str, outcome: str) -> None:
        self.answers.setdefault(voter, []).append(outcome)
        if outcome not in RETRYABLE:
            self.done += 1
            for n, event in self.marks:
                if self.done >= n:
                    event.set()


async def cast(http: Any, token: str, poll_id: int, choice: Any) -> str:
    """One REST vote: `ok` or the error code."""
    resp = await http.post(
        f"/api/v1/polls/{poll_id}/votes",
        json={"choice": choice},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = await resp.json()
    return "ok" if resp.status == 201 else str(body["error"]["code"])


async def voter(
    hubs: list[Any], token: str, sub: str, poll_id: int, choice: Any, tally: Tally, *, sends: int
) -> None:
    """Send the vote `sends` times, through the hubs in turn, concurrently; resend each
    that went unanswered (timeout, unavailable) until it is answered."""

    async def one(n: int) -> None:
        while True:
            outcome = await cast(hubs[n % len(hubs)], token, poll_id, choice)
            tally.record(sub, outcome)
            if outcome not in RETRYABLE:
                return
            n += 1

    await asyncio.gather(*(one(n) for n in range(sends)))


def check_answers(tally: Tally, voters: int, sends: int) -> None:
    """Each voter: exactly one `ok`, or none when an unanswered send was counted (then
    `already_voted` says so); every other final answer `already_voted`."""
    assert len(tally.answers) == voters
    for sub, outcomes in tally.answers.items():
        final = [o for o in outcomes if o not in RETRYABLE]
        assert len(final) == sends, (sub, outcomes)
        counts = Counter(final)
        assert set(counts) <= {"ok", "already_voted"}, (sub, outcomes)
        if counts["ok"] == 0:  # its first send was stored, but its answer was lost
            assert any(o in RETRYABLE for o in outcomes), (sub, outcomes)
        assert counts["ok"] <= 1, (sub, outcomes)


async def ballots(settings: Settings, poll_id: int) -> list[tuple[str, Any]]:
    """The poll's ballots in PostgreSQL: (voter, choice)."""
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT voter, choice::text FROM poll_ballots WHERE poll_id = $1", poll_id
        )
    finally:
        await conn.close()
    return [(r["voter"], int(r["choice"])) for r in rows]


async def settles(
    settings: Settings, organizer: Raw, watcher: PollsView, poll_id: int, voters: int, options: int
) -> None:
    """Every voter has one ballot, and results and the channel count exactly those."""
    stored = await ballots(settings, poll_id)
    assert sorted(v for v, _ in stored) == sorted(set(v for v, _ in stored))
    assert len(stored) == voters
    counts = [sum(1 for _, c in stored if c == i) for i in range(options)]
    expected = {"voters": voters, "counts": counts}

    async def counted() -> bool:
        tally = ok(await organizer.call("polls.results", {"poll_id": poll_id}))["tally"]
        assert tally == expected, tally
        return True

    await wait_for(counted, what="the live counters to equal the ballots")
    await watcher.until(
        lambda v: v.polls.get(poll_id, {}).get("tally") == expected,
        f"a publication of {voters} voters",
        timeout=WAIT_S,
    )
