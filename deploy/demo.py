"""`bilten up --demo`: a demo event with sample data, and links to try it.

Idempotent: a restart finds the demo event it made before instead of adding
another. It goes through the same command path as any client (the events
worker over NATS), with a service identity.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NATS

from bilten.infra.deps import connect_nats
from bilten.infra.rpc import request
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.errors import Unavailable
from bilten.protocol.offline import parse_bundle
from bilten.protocol.subjects import Subjects
from bilten.protocol.tokens import Claims, encode_token, mint_claims

DEMO_ORG = "demo"
WORKERS_WAIT_S = 30.0
DEMO_NAME = "Bilten Demo Night"
DEMO_GATES = ("north", "south")
# Seated sections: name, price (minor units), rows, seats per row.
DEMO_SECTIONS = (("Parter", 5000, 4, 10), ("Balkon", 4000, 2, 8))
DEMO_HOLDERS = ("Amra Hadžić", "Emir Kovač", "Lejla Begić", "Tarik Mehić", "Selma Delić")
DEMO_SESSION = "Opening keynote"
DEMO_POLL = "Where did you travel from?"
DEMO_POLL_OPTIONS = ("Sarajevo", "Mostar", "Tuzla", "Further away")


@dataclass(frozen=True, slots=True)
class _Caller:
    """One NATS connection for every command the demo sends."""

    nc: NATS
    settings: Settings

    async def __call__(self, claims: Claims, method: str, params: dict[str, Any]) -> Any:
        """One command; the workers may still be subscribing, so no-responders is retried."""
        deadline = time.monotonic() + WORKERS_WAIT_S
        while True:
            try:
                return await request(
                    self.nc,
                    Subjects(self.settings.namespace).command(method),
                    encode_request(CommandRequest(method, claims, params)),
                    timeout=self.settings.request_timeout_s,
                    what=method,
                )
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def ensure_demo_event(call: _Caller) -> dict[str, Any]:
    """The demo organization's demo event, created on first use."""
    now = time.time()
    organizer = mint_claims(
        sub="demo-organizer", org=DEMO_ORG, role="organizer", events="*", ttl_s=60, now=now
    )
    listing = await call(organizer, "events.list", {"limit": 500})
    for event in listing["events"]:
        if event["name"] == DEMO_NAME:
            return dict(event)
    starts = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    created = await call(
        organizer,
        "events.create",
        {
            "name": DEMO_NAME,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=4)).isoformat(),
            "timezone": "Europe/Sarajevo",
            "locale": "bs-BA",
            "currency": "BAM",
        },
    )
    event_id = created["id"]
    await call(organizer, "gates.set", {"event_id": event_id, "gates": list(DEMO_GATES)})
    await _seat_map(call, organizer, event_id)
    for name, price in (("General", 3000), ("VIP", 12000)):
        kind = await call(
            organizer,
            "tickettypes.create",
            {"event_id": event_id, "name": name, "price_minor": price, "quota": 500},
        )
        for holder in DEMO_HOLDERS:
            await call(
                organizer,
                "tickets.issue",
                {"event_id": event_id, "ticket_type_id": kind["id"], "count": 1, "holder": holder},
            )
    await _keynote(call, organizer, event_id)
    return dict(created)


async def _keynote(call: _Caller, organizer: Claims, event_id: int) -> None:
    """A session with an open live poll, so attendees have something to vote in."""
    session = await call(
        organizer, "sessions.create", {"event_id": event_id, "title": DEMO_SESSION, "room": "Hall"}
    )
    poll = await call(
        organizer,
        "polls.create",
        {
            "session_id": session["id"],
            "question": DEMO_POLL,
            "kind": "single",
            "options": list(DEMO_POLL_OPTIONS),
            "results": "live",
        },
    )
    await call(organizer, "polls.open", {"poll_id": poll["id"]})


async def _seat_map(call: _Caller, organizer: Claims, event_id: int) -> None:
    """A small hall: a seated type per section, so `seats.map` and holds have seats."""
    sections = []
    for section, price, rows, seats in DEMO_SECTIONS:
        kind = await call(
            organizer,
            "tickettypes.create",
            {"event_id": event_id, "name": section, "price_minor": price},
        )
        sections.append(
            {
                "name": section,
                "ticket_type_id": kind["id"],
                "rows": [{"name": str(n), "seats": seats} for n in range(1, rows + 1)],
            }
        )
    await call(organizer, "seats.create", {"event_id": event_id, "sections": sections})


async def create(settings: Settings, base_url: str, bilten: str) -> list[str]:
    """Make sure the demo exists; return the lines `bilten up` prints about it.

    `bilten` is how the printed commands run the CLI (its script by absolute path).
    """
    assert settings.nats_url
    nc = await connect_nats(settings.nats_url, "bilten-demo")
    try:
        return await _lines(_Caller(nc, settings), base_url, bilten)
    finally:
        await nc.close()


async def _lines(call: _Caller, base_url: str, bilten: str) -> list[str]:
    settings = call.settings
    event = await ensure_demo_event(call)
    secret = settings.require_secret()
    now = time.time()
    day = 24 * 3600
    organizer_claims = mint_claims(
        sub="demo-organizer", org=DEMO_ORG, role="organizer", events="*", ttl_s=day, now=now
    )
    organizer = encode_token(organizer_claims, secret)
    attendee = encode_token(
        mint_claims(
            sub="demo-attendee",
            org=DEMO_ORG,
            role="attendee",
            events=(event["id"],),
            ttl_s=day,
            now=now,
        ),
        secret,
    )
    staff = encode_token(
        mint_claims(
            sub="demo-door", org=DEMO_ORG, role="staff", events=(event["id"],), ttl_s=day, now=now
        ),
        secret,
    )
    bundle = parse_bundle(await call(organizer_claims, "checkin.bundle", {"event_id": event["id"]}))
    polls = (await call(organizer_claims, "polls.list", {"event_id": event["id"]}))["polls"]
    ticket = await call(organizer_claims, "tickets.get", {"ticket_id": bundle.tickets[0].id})
    ws = base_url.replace("http", "ws", 1)
    return [
        f"demo event {event['id']}: {event['name']} ({event['starts_at']})",
        f"  REST       {base_url}/api/v1/events/{event['id']}",
        f"  organizer  token {organizer}",
        f"  attendee   {ws}/ws?token={attendee}",
        f"  try        curl -H 'Authorization: Bearer {organizer}' "
        f"{base_url}/api/v1/events/{event['id']}",
        f"  ticket     {base_url}/api/v1/tickets/{ticket['id']}/qr.svg (organizer token)",
        f"  door       echo {ticket['code']} | {bilten} scan --url {base_url} --token {staff} "
        f"--event {event['id']} --gate {DEMO_GATES[0]}",
        *(
            f"  vote       curl -X POST -H 'Authorization: Bearer {attendee}' "
            f"-H 'Content-Type: application/json' -d '{{\"choice\": 0}}' "
            f"{base_url}/api/v1/polls/{poll['id']}/votes  ({poll['question']})"
            for poll in polls[:1]
        ),
    ]
