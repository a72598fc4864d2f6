"""Setting up a simulated day's event, and the tokens of its people (docs/simulate.md).

The organizer's client creates the event, its gates, a general-admission
ticket type with a place per planned buyer and a session with a poll per
planned poll (a quiz question where the plan says so), with Q&A that needs no
approval; the box office issues tickets for the scans-alone baseline of
benchmarks/eventday.py. Tokens come from a `Minter`: signed with the stack's
secret (deploy/simulate_cli.py), or asked of the hub (`minting_client`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bilten.clients.sdk import BiltenClient
from bilten.clients.sim_plan import POLL_OPTIONS, DayPlan
from bilten.protocol import errors
from bilten.protocol.tokens import Role

# Mints a token for the simulated event: role, sub, event id, gates (staff) or None.
Minter = Callable[[Role, str, int, tuple[str, ...] | None], Awaitable[str]]
MINT_CONCURRENCY = 8
ISSUE_BATCH = 1000
EVENT = {
    "name": "Bilten simulated day",
    "starts_at": "2030-06-01T08:00:00+00:00",
    "ends_at": "2030-06-01T23:00:00+00:00",
    "timezone": "UTC",
    "locale": "en",
    "currency": "EUR",
}


async def mint_attendees(mint: Minter, event_id: int, subs: list[str]) -> list[str]:
    """An attendee token for each of `subs`, a few minted at a time."""
    limit = asyncio.Semaphore(MINT_CONCURRENCY)

    async def one(sub: str) -> str:
        async with limit:
            return await mint("attendee", sub, event_id, None)

    return list(await asyncio.gather(*(one(sub) for sub in subs)))


async def set_up(
    organizer: BiltenClient, plan: DayPlan, *, scans_only: bool
) -> tuple[int, int, list[tuple[int, int]]]:
    """The event, its gates, the ticket type and (unless `scans_only`) a poll per session:
    the event's id, the ticket type's and each session's with its poll's."""
    event = await organizer.rpc("events.create", EVENT)
    event_id = int(event["id"])
    await organizer.rpc("gates.set", {"event_id": event_id, "gates": list(plan.gates)})
    kind = await organizer.rpc(
        "tickettypes.create",
        {
            "event_id": event_id,
            "name": "Day pass",
            "price_minor": 2500,
            "quota": plan.config.attendees,
        },
    )
    polls: list[tuple[int, int]] = []
    if plan.config.polls and not scans_only:  # questions shown at once, so the room upvotes
        await organizer.rpc("qa.settings", {"event_id": event_id, "require_approval": False})
    for n in range(0 if scans_only else plan.config.polls):
        session = await organizer.rpc(
            "sessions.create", {"event_id": event_id, "title": f"Session {n + 1}", "room": "Hall"}
        )
        poll: dict[str, Any] = {
            "session_id": session["id"],
            "question": f"What did you like best so far? ({n + 1})",
            "kind": "single",
            "options": list(POLL_OPTIONS),
            "results": "live",
        }
        correct = plan.quizzes[n]
        if correct is not None:
            poll |= {"kind": "quiz", "correct": correct, "time_limit_s": plan.quiz_limit_s}
        created = await organizer.rpc("polls.create", poll)
        polls.append((int(session["id"]), int(created["id"])))
    return event_id, int(kind["id"]), polls


async def box_office(
    organizer: BiltenClient, event_id: int, ticket_type_id: int, count: int
) -> list[str]:
    """`count` tickets issued at once, their codes: the scans-alone run sells nothing."""
    codes: list[str] = []
    while len(codes) < count:
        issued = await organizer.rpc(
            "tickets.issue",
            {
                "event_id": event_id,
                "ticket_type_id": ticket_type_id,
                "count": min(ISSUE_BATCH, count - len(codes)),
                "holder": "Box office guest",
            },
        )
        codes += [ticket["code"] for ticket in issued["tickets"]]
    return codes


@contextlib.asynccontextmanager
async def minting_client(ws_url: str, organizer: str) -> AsyncIterator[Minter]:
    """A `Minter` asking the hub (`tokens.create`) with the organizer's token: for a stack
    whose secret is not at hand. `rate_limited` answers are waited out."""
    async with BiltenClient(ws_url, organizer) as client:

        async def mint(role: Role, sub: str, event_id: int, gates: tuple[str, ...] | None) -> str:
            params: dict[str, Any] = {"role": role, "sub": sub, "events": [event_id]}
            if gates is not None:
                params["gates"] = list(gates)
            while True:
                try:
                    return str((await client.rpc("tokens.create", params))["token"])
                except errors.RateLimited:
                    await asyncio.sleep(0.5)

        yield mint
