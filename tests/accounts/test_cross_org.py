"""Cross-organization access (issue 11): every command, with every credential of another org.

Organizations A and B each get an owner, an event with a gate, a ticket type,
a ticket, an API key, a paired door device, an attendee with an order, a
session with a poll and a question, and a webhook.
Then every command of the table that names an organization or an event is
called over REST with each of B's credentials, naming A's resources: each
answer must be a refusal with a stable code. The commands skipped (they name
neither) are listed, so a new command cannot slip past unchecked; and B's own
credentials must work on B's own resources, so the refusals mean something.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bilten.infra.settings import Settings
from bilten.protocol.commands import COMMANDS, path_params
from bilten.protocol.errors import HTTP_STATUS
from tests.accounts.attendee_helpers import sign_in
from tests.accounts.helpers import Browser
from tests.hub.helpers import EVENT

# Commands that name no organization and no event: they act on the caller's own
# account, session or organization only, or sign in; each has tests of its own.
NAMES_NEITHER = {
    "auth.signup",
    "auth.signin",
    "auth.reset.request",
    "auth.reset.confirm",
    "auth.invitation.accept",
    "auth.me",
    "auth.signout",
    "auth.signout.all",
    "auth.password",
    "auth.link.request",
    "auth.link.redeem",
    "attendee.me",
    "attendee.orders",
    "attendee.tickets",
    "attendee.signout",
    "devices.redeem",
    "events.create",
    "events.list",
}
REFUSALS = {"unauthorized", "forbidden", "not_found"}
# The params that name an organization, an event or something in one.
NAMING = {
    "org",
    "event_id",
    "events",
    "ticket_type_id",
    "ticket_id",
    "order_id",
    "hold_id",
    "account_id",
    "device_id",
    "key_id",
    "channel",
    "session_id",
    "poll_id",
    "question_id",
    "webhook_id",
}
# Minimal valid values of the params that name nothing of A's.
BODY: dict[str, Any] = {
    "name": "Taken over",
    "sub": "intruder",
    "data": {"text": "hello from B"},
    "price_minor": 0,
    "holder": "Intruder",
    "gates": ["north"],
    "gate": "north",
    "device": "door-b-1",
    "scans": [],
    "email": "intruder@example.org",
    "sections": [{"name": "S", "rows": [{"name": "1", "seats": 2}]}],
    "title": "Taken over",
    "question": "Taken over?",
    "kind": "rating",
    "choice": 5,
    "words": ["intruder"],
    "text": "Whose event is this?",
    "emoji": "👏",
    "action": "hide",
    "metric": "scans",
    "url": "https://hooks.invalid/bilten",
    "kinds": ["events.updated"],
}
# Where one command needs a value other than BODY's, or an optional param to be valid.
OVERRIDES: dict[str, dict[str, Any]] = {
    "tokens.create": {"role": "attendee"},
    "orgs.members.update": {"role": "door"},
    "orgs.invitations.create": {"role": "door"},
    "orgs.apikeys.create": {"role": "organizer"},
    "events.update": {"name": "Taken over"},
    "tickettypes.update": {"name": "Taken over"},
    "seats.hold": {"quantity": 1},
    "seats.waitlist.join": {"quantity": 1},
    "exports.page": {"name": "tickets"},
}


@dataclass
class Org:
    """One organization's resources and the credentials that reach them."""

    owner: Browser
    attendee: Browser
    org: str
    account: int
    event: int
    kind: int
    ticket: int
    code: str
    order: int
    hold: int
    key_id: int
    device_id: int
    session: int
    poll: int
    question: int
    webhook: int
    tokens: dict[str, str]  # credential name → bearer

    def names(self) -> dict[str, Any]:
        """This organization's resources, by the param names that take them."""
        return {
            "org": self.org,
            "event_id": self.event,
            "events": [self.event],
            "ticket_type_id": self.kind,
            "ticket_id": self.ticket,
            "code": self.code,
            "order_id": self.order,
            "hold_id": self.hold,
            "account_id": self.account,
            "device_id": self.device_id,
            "key_id": self.key_id,
            "channel": f"event.{self.event}.announcements",
            "session_id": self.session,
            "poll_id": self.poll,
            "question_id": self.question,
            "webhook_id": self.webhook,
        }


async def _org(aiohttp_client: Any, hub_server: Any, settings: Settings, label: str) -> Org:
    """An organization signed up through the hub, with everything a cross-org call could name."""
    owner = Browser(await aiohttp_client(hub_server))
    me = await owner.signup(f"owner-{label}@example.org", organization=f"Org {label}")
    org = me["memberships"][0]["org"]
    bearer = {"bearer": await owner.token(org), "origin": None}
    event = (await owner.call("events.create", **bearer, **EVENT))["id"]
    scoped = {**bearer, "event_id": event}
    await owner.call("gates.set", gates=["north"], **scoped)
    kind = await owner.call(
        "tickettypes.create", name="General", price_minor=1500, quota=50, **scoped
    )
    [ticket] = (
        await owner.call("tickets.issue", ticket_type_id=kind["id"], holder="Amra", **scoped)
    )["tickets"]
    buyer = f"buyer-{label}@example.org"
    bought = await owner.call("seats.hold", ticket_type_id=kind["id"], quantity=1, **scoped)
    order = await owner.call("seats.confirm", **bearer, hold_id=bought["hold_id"], email=buyer)
    held = await owner.call("seats.hold", ticket_type_id=kind["id"], quantity=1, **scoped)
    key = await owner.call("orgs.apikeys.create", org=org, name="CRM", role="organizer")
    pairing = await owner.call("orgs.devices.pair", org=org, event_id=event, name="Door")
    device = await owner.call("devices.redeem", code=pairing["code"])
    session = await owner.call("sessions.create", title="Keynote", **scoped)
    poll = await owner.call(
        "polls.create", **bearer, session_id=session["id"], question="Ready?", kind="rating"
    )
    await owner.call("polls.open", **bearer, poll_id=poll["id"])
    question = await owner.call(
        "qa.ask", **scoped, session_id=session["id"], text="Where is the cloakroom?"
    )
    webhook = await owner.call(
        "webhooks.create", **bearer, url=f"https://hooks-{label}.invalid/", kinds=["*"]
    )
    attendee = Browser(await aiohttp_client(hub_server))
    await sign_in(attendee, settings, buyer)
    attendee_token = (await attendee.call("attendee.token", org=org))["token"]
    viewer = await owner.call("tokens.create", **bearer, role="viewer", sub="screen", events="*")
    return Org(
        owner=owner,
        attendee=attendee,
        org=org,
        account=me["account"]["id"],
        event=event,
        kind=kind["id"],
        ticket=ticket["id"],
        code=ticket["code"],
        order=order["order_id"],
        hold=held["hold_id"],
        key_id=key["id"],
        device_id=device["device_id"],
        session=session["id"],
        poll=poll["id"],
        question=question["id"],
        webhook=webhook["id"],
        tokens={
            "connection token": bearer["bearer"],
            "attendee token": attendee_token,
            "api key": key["key"],
            "device token": device["token"],
            "viewer token": viewer["token"],
        },
    )


def _params(method: str, target: Org) -> dict[str, Any]:
    """A call of `method` naming `target`'s resources, otherwise minimal and valid."""
    command = COMMANDS[method]
    names = target.names()
    overrides = OVERRIDES.get(method, {})
    wanted = {*path_params(command), *command.required, *(p for p in command.params if p in names)}
    params = {p: names[p] if p in names else BODY[p] for p in wanted - set(overrides)}
    return {**params, **overrides}


def _names_org_or_event(method: str) -> bool:
    """Whether a command takes a param that names an organization or something in one."""
    return any(p in NAMING for p in COMMANDS[method].params)


def test_the_commands_skipped_are_exactly_those_naming_no_org_or_event() -> None:
    skipped = {m for m in COMMANDS if not _names_org_or_event(m)}
    assert skipped == NAMES_NEITHER


async def test_no_credential_of_one_organization_reaches_another(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    a = await _org(aiohttp_client, hub_server, workers, "a")
    b = await _org(aiohttp_client, hub_server, workers, "b")
    plain = Browser(await aiohttp_client(hub_server))  # no cookies: bearer credentials only
    leaks = []
    for method in sorted(m for m in COMMANDS if m not in NAMES_NEITHER):
        command = COMMANDS[method]
        params = _params(method, a)
        if command.auth == "token":
            calls = [(name, plain, token, params) for name, token in b.tokens.items()]
        elif command.auth == "session":
            calls = [("session", b.owner, None, params)]
            if NAMING & set(command.params) - {"org"}:
                # B's own organization in the path, A's event, member, device or key inside.
                calls.append(("session, own org", b.owner, None, {**params, "org": b.org}))
        else:
            assert command.auth == "attendee", method
            calls = [("attendee session", b.attendee, None, params)]
        for credential, browser, bearer, named in calls:
            origin = None if bearer else "same"
            status, body, _ = await browser.raw(method, origin=origin, bearer=bearer, **named)
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            if code not in REFUSALS or HTTP_STATUS[code] != status:
                leaks.append((method, credential, status, body))
    assert not leaks, leaks
    # A door member of B's is never limited to A's event (before any other check).
    status, error = await b.owner.error(
        "orgs.members.update", org=b.org, account_id=b.account, role="door", events=[a.event]
    )
    assert (status, error["code"]) == (404, "not_found"), error
    # Listing names no event, so it is checked here: B's credentials list none of A's.
    for credential, token in b.tokens.items():
        events = (await plain.call("events.list", bearer=token, origin=None))["events"]
        assert a.event not in {e["id"] for e in events}, credential

    # The same credentials do reach B's own resources, so the refusals above mean something.
    for credential, token in b.tokens.items():
        got = await plain.call("events.get", bearer=token, origin=None, event_id=b.event)
        assert got["id"] == b.event, credential
    door = {"bearer": b.tokens["device token"], "origin": None, "event_id": b.event}
    assert (await plain.call("gates.list", **door))["event_id"] == b.event
    members = (await b.owner.call("orgs.members.list", org=b.org))["members"]
    assert "owner-b@example.org" in {m["email"] for m in members}
    assert (await b.attendee.call("attendee.token", org=b.org))["role"] == "attendee"
