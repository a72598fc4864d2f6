"""`bilten up --demo`: a demo event with sample data, and links to try it.

Idempotent: a restart finds the demo event it made before instead of adding
another. It goes through the same command path as any client (the events
worker over NATS), with a service identity.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bilten.core.deps import connect_nats
from bilten.core.rpc import request
from bilten.core.settings import Settings
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.errors import Unavailable
from bilten.protocol.offline import parse_bundle
from bilten.protocol.subjects import Subjects
from bilten.protocol.tokens import Claims, encode_token, mint_claims

DEMO_ORG = "demo"
WORKERS_WAIT_S = 30.0
DEMO_NAME = "Bilten Demo Night"
DEMO_GATES = ("north", "south")
DEMO_HOLDERS = ("Amra Hadžić", "Emir Kovač", "Lejla Begić", "Tarik Mehić", "Selma Delić")


async def _call(settings: Settings, claims: Claims, method: str, params: dict[str, Any]) -> Any:
    """One command; the workers may still be subscribing, so no-responders is retried."""
    assert settings.nats_url
    nc = await connect_nats(settings.nats_url, "bilten-demo")
    try:
        deadline = time.monotonic() + WORKERS_WAIT_S
        while True:
            try:
                return await request(nc, Subjects(settings.namespace).command(method),
                                     encode_request(CommandRequest(method, claims, params)),
                                     timeout=settings.request_timeout_s, what=method)
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


async def ensure_demo_event(settings: Settings) -> dict[str, Any]:
    """The demo organization's demo event, created on first use."""
    now = time.time()
    organizer = mint_claims(sub="demo-organizer", org=DEMO_ORG, role="organizer", events="*",
                            ttl_s=60, now=now)
    listing = await _call(settings, organizer, "events.list", {"limit": 500})
    for event in listing["events"]:
        if event["name"] == DEMO_NAME:
            return dict(event)
    starts = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    created = await _call(settings, organizer, "events.create", {
        "name": DEMO_NAME, "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=4)).isoformat(), "timezone": "Europe/Sarajevo",
        "locale": "bs-BA", "currency": "BAM",
    })
    event_id = created["id"]
    await _call(settings, organizer, "gates.set", {"event_id": event_id,
                                                   "gates": list(DEMO_GATES)})
    for name, price in (("General", 3000), ("VIP", 12000)):
        kind = await _call(settings, organizer, "tickettypes.create", {
            "event_id": event_id, "name": name, "price_minor": price, "quota": 500})
        for holder in DEMO_HOLDERS:
            await _call(settings, organizer, "tickets.issue", {
                "event_id": event_id, "ticket_type_id": kind["id"], "count": 1,
                "holder": holder})
    return dict(created)


async def create(settings: Settings, base_url: str) -> list[str]:
    """Make sure the demo exists; return the lines `bilten up` prints about it."""
    event = await ensure_demo_event(settings)
    secret = settings.require_secret()
    now = time.time()
    day = 24 * 3600
    organizer_claims = mint_claims(sub="demo-organizer", org=DEMO_ORG, role="organizer",
                                   events="*", ttl_s=day, now=now)
    organizer = encode_token(organizer_claims, secret)
    attendee = encode_token(mint_claims(sub="demo-attendee", org=DEMO_ORG, role="attendee",
                                        events=(event["id"],), ttl_s=day, now=now), secret)
    staff = encode_token(mint_claims(sub="demo-door", org=DEMO_ORG, role="staff",
                                     events=(event["id"],), ttl_s=day, now=now), secret)
    bundle = parse_bundle(await _call(settings, organizer_claims, "checkin.bundle",
                                      {"event_id": event["id"]}))
    ticket = await _call(settings, organizer_claims, "tickets.get",
                         {"ticket_id": bundle.tickets[0].id})
    ws = base_url.replace("http", "ws", 1)
    return [
        f"demo event {event['id']}: {event['name']} ({event['starts_at']})",
        f"  REST       {base_url}/api/v1/events/{event['id']}",
        f"  organizer  token {organizer}",
        f"  attendee   {ws}/ws?token={attendee}",
        f"  try        curl -H 'Authorization: Bearer {organizer}' "
        f"{base_url}/api/v1/events/{event['id']}",
        f"  ticket     {base_url}/api/v1/tickets/{ticket['id']}/qr.svg (organizer token)",
        f"  door       echo {ticket['code']} | bilten scan --url {base_url} --token {staff} "
        f"--event {event['id']} --gate {DEMO_GATES[0]}",
    ]
