"""The `viewer` token, attacked from outside: real hub and workers, WebSocket and REST.

A viewer (docs/protocol.md §Tokens & permissions) watches the dashboard and the
public channels of the events its token reaches and reads what attendees read;
it runs no organizer or staff command, publishes nothing, mints nothing, and
sees nothing private. Each refusal here is checked against what an organizer
of the same event gets, so a refusal means the role, not a broken call.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from bilten.protocol.commands import COMMANDS
from bilten.protocol.permissions import SUBSCRIBE_TOPICS
from bilten.protocol.tokens import Claims, decode_token, encode_token
from tests.accounts.helpers import Browser
from tests.allocation.helpers import error, ok
from tests.engagement.helpers import make_poll, make_session, vote
from tests.hub.helpers import Raw, connect, create_event

pytestmark = pytest.mark.timeout(300)


def _signed(secret: str, **claims: Any) -> str:
    """A token signed with the hub's secret as-is: claims `mint_claims` would refuse."""
    now = int(time.time())
    fields: dict[str, Any] = {
        "sub": "viewer-1",
        "org": "acme",
        "role": "viewer",
        "events": "*",
        "gates": None,
        "exp": now + 600,
        "iat": now,
        **claims,
    }
    return encode_token(Claims(**fields), secret)


async def test_organizers_mint_viewer_tokens_within_their_grant(
    hub_server: Any, aiohttp_client: Any, make_token: Any, secret: str
) -> None:
    """docs/protocol.md §Minting: organizers mint `viewer` tokens, never beyond their own."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    mine, other = await create_event(organizer), await create_event(organizer)
    minted = ok(
        await organizer.call("tokens.create", {"role": "viewer", "sub": "wall", "events": [mine]})
    )
    assert minted["role"] == "viewer"
    claims = decode_token(minted["token"], secret, now=time.time())
    assert (claims.role, claims.org, claims.events) == ("viewer", "acme", (mine,))
    viewer = await connect(client, minted["token"])
    refused = await viewer.subscribe(f"event.{other}.dashboard")
    assert refused["error"]["code"] == "forbidden", refused
    # Its own socket: the dashboard's publications would come between later replies.
    watcher = await connect(client, minted["token"])
    assert (await watcher.subscribe(f"event.{mine}.dashboard"))["op"] == "subscribed"
    # REST says the same as the socket.
    rest = Browser(client)
    bearer = {"bearer": make_token("organizer"), "origin": None}
    status, body, _ = await rest.raw(
        "tokens.create", **bearer, role="viewer", sub="wall-2", events="*"
    )
    assert (status, body["role"]) == (201, "viewer"), body

    # Within the grant only: an organizer of one event mints a viewer of that event alone.
    narrow = await connect(client, make_token("organizer", sub="narrow", events=[mine]))
    beyond = error(
        await narrow.call("tokens.create", {"role": "viewer", "sub": "w", "events": [other]})
    )
    assert (beyond["code"], beyond["details"]["field"]) == ("forbidden", "events"), beyond
    star = error(await narrow.call("tokens.create", {"role": "viewer", "sub": "w", "events": "*"}))
    assert (star["code"], star["details"]["field"]) == ("forbidden", "events"), star
    rival = {"role": "viewer", "sub": "w", "events": "*", "org": "rival"}
    foreign = error(await organizer.call("tokens.create", rival))
    assert (foreign["code"], foreign["details"]["field"]) == ("forbidden", "org"), foreign
    bare = error(
        await organizer.call("tokens.create", {"role": "viewer", "sub": "w", "events": []})
    )
    assert bare["code"] == "bad_request", bare
    # A viewer mints nothing, not even an attendee token for its own event.
    for role in ("attendee", "staff", "viewer"):
        mint = {"role": role, "sub": "guest", "events": [mine]}
        assert error(await viewer.call("tokens.create", mint))["code"] == "forbidden", role


async def _viewer_and_organizer(client: Any, make_token: Any) -> tuple[Raw, Raw, int, int, int]:
    """An organizer of acme with an event and a session, and a viewer of every acme event:
    (viewer, organizer, event, session, another org's event)."""
    organizer = await connect(client, make_token("organizer"))
    event_id, session_id = await make_session(organizer)
    rival = await connect(client, make_token("organizer", org="rival", sub="rival-1"))
    foreign = await create_event(rival)
    viewer = await connect(client, make_token("viewer", sub="wall", events="*"))
    return viewer, organizer, event_id, session_id, foreign


async def test_a_viewer_watches_its_own_organizations_dashboards_only(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    viewer, organizer, event_id, _session, foreign = await _viewer_and_organizer(client, make_token)
    second = await create_event(organizer)
    for channel in (
        f"event.{foreign}.dashboard",  # another organization's
        f"event.{foreign}.announcements",
        f"event.{event_id}.checkins",  # verdicts name holders: staff and organizers only
        "user.organizer-1",  # another user's channel
        "user.buyer-1",
    ):
        reply = await viewer.subscribe(channel)
        assert reply["error"]["code"] == "forbidden", (channel, reply)
    assert (await viewer.subscribe("user.wall"))["op"] == "subscribed"
    for mine in (event_id, second):  # "*": every event of its organization
        watcher = await connect(client, make_token("viewer", sub="wall", events="*"))
        reply = await watcher.subscribe(f"event.{mine}.dashboard")
        assert reply["op"] == "subscribed" and reply["snapshot"]["event_id"] == mine, reply
    # A viewer token limited to one event reaches that one only.
    one = await connect(client, make_token("viewer", sub="wall-1", events=[event_id]))
    assert (await one.subscribe(f"event.{second}.dashboard"))["error"]["code"] == "forbidden"
    # Attendees and staff never watch the dashboard, even of their own event.
    for role in ("attendee", "staff"):
        raw = await connect(client, make_token(role, sub=f"{role}-2", events=[event_id]))
        reply = await raw.subscribe(f"event.{event_id}.dashboard")
        assert reply["error"]["code"] == "forbidden", (role, reply)


async def test_a_viewer_publishes_nothing_and_runs_no_organizer_or_staff_command(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    viewer, organizer, event_id, session_id, _foreign = await _viewer_and_organizer(
        client, make_token
    )
    for topic in sorted(SUBSCRIBE_TOPICS["organizer"]):
        channel = f"event.{event_id}.{topic}"
        reply = await viewer.call("channels.publish", {"channel": channel, "data": {"x": 1}})
        assert error(reply)["code"] == "forbidden", (topic, reply)
    publish = {"channel": "user.wall", "data": {"x": 1}}
    assert error(await viewer.call("channels.publish", publish))["code"] == "forbidden"
    # The commands a viewer may run are reads that every role may run.
    readable = {m for m, c in COMMANDS.items() if "viewer" in c.roles}
    assert readable == {
        "events.list",
        "events.get",
        "tickettypes.list",
        "tickets.get",
        "seats.map",
        "sessions.list",
        "polls.list",
        "polls.get",
        "qa.list",
    }
    assert all(COMMANDS[m].http == "GET" for m in readable)
    kind = ok(
        await organizer.call(
            "tickettypes.create",
            {"event_id": event_id, "name": "GA", "price_minor": 100, "quota": 10},
        )
    )
    [ticket] = ok(
        await organizer.call(
            "tickets.issue",
            {"event_id": event_id, "ticket_type_id": kind["id"], "holder": "Amra Hadžić"},
        )
    )["tickets"]
    poll = await make_poll(organizer, session_id, "single", options=["Yes", "No"])
    for method, params in (
        ("tickets.get", {"ticket_id": ticket["id"]}),  # its code admits whoever shows it
        ("tickets.list", {"event_id": event_id}),
        ("tickets.revoke", {"ticket_id": ticket["id"]}),
        ("orders.list", {"event_id": event_id}),
        ("holds.list", {"event_id": event_id}),
        ("checkin.list", {"event_id": event_id}),
        ("checkin.inside", {"event_id": event_id}),
        ("checkin.bundle", {"event_id": event_id}),
        ("checkin.scan", {"event_id": event_id, "code": ticket["code"], "gate": "main"}),
        ("gates.list", {"event_id": event_id}),
        ("presence.get", {"event_id": event_id}),
        ("polls.results", {"poll_id": poll["id"]}),
        ("polls.close", {"poll_id": poll["id"]}),
        ("polls.vote", {"poll_id": poll["id"], "choice": 0}),
        ("qa.ask", {"event_id": event_id, "session_id": session_id, "text": "Who am I?"}),
        ("seats.hold", {"event_id": event_id, "ticket_type_id": kind["id"], "quantity": 1}),
        ("exports.page", {"event_id": event_id, "name": "tickets"}),
    ):
        refused = await viewer.call(method, params)
        assert error(refused)["code"] == "forbidden", (method, refused)
        allowed = await organizer.call(method, params)  # the role is what the viewer lacks
        assert allowed["op"] == "result" or error(allowed)["code"] != "forbidden", allowed
    # The REST-only downloads refuse it too.
    headers = {"Authorization": f"Bearer {make_token('viewer', sub='wall', events='*')}"}
    for path in (
        f"/api/v1/events/{event_id}/exports/tickets.csv",
        f"/api/v1/events/{event_id}/exports/checkins.json",
        f"/api/v1/tickets/{ticket['id']}/qr.svg",
    ):
        response = await client.get(path, headers=headers)
        assert response.status == 403, (path, response.status)
        assert (await response.json())["error"]["code"] == "forbidden", path


async def test_a_viewer_reads_what_attendees_read_and_nothing_private(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    viewer, organizer, event_id, session_id, _foreign = await _viewer_and_organizer(
        client, make_token
    )
    attendee = await connect(client, make_token("attendee", sub="ena", events=[event_id]))
    secret_poll = await make_poll(
        organizer, session_id, "single", options=["Yes", "No"], results="on_close"
    )
    await make_poll(organizer, session_id, "rating", open_=False)  # a draft
    assert ok(await vote(attendee, secret_poll["id"], 0))["voted"] is True
    asked = {"event_id": event_id, "session_id": session_id}
    anonymous = ok(await attendee.call("qa.ask", {**asked, "text": "Salary?", "anonymous": True}))
    assert anonymous["author"] is None
    ok(await attendee.call("qa.ask", {**asked, "text": "Named, then hidden"}))
    hidden = ok(await attendee.call("qa.ask", {**asked, "text": "Spam"}))
    ok(
        await organizer.call(
            "qa.moderate", {"event_id": event_id, "question_id": hidden["id"], "action": "hide"}
        )
    )
    for method, params in (
        ("polls.list", {"event_id": event_id, "session_id": session_id}),
        ("polls.get", {"poll_id": secret_poll["id"]}),
        ("qa.list", asked),
        ("sessions.list", {"event_id": event_id}),
        ("seats.map", {"event_id": event_id}),
        ("events.get", {"event_id": event_id}),
    ):
        seen = ok(await viewer.call(method, params))
        assert seen == ok(await attendee.call(method, params)), method
        assert seen != ok(await organizer.call(method, params)) or method in (
            "sessions.list",
            "seats.map",
            "events.get",
        ), method
    questions = ok(await viewer.call("qa.list", asked))["questions"]
    assert hidden["id"] not in {q["id"] for q in questions}
    assert {q["author"] for q in questions if q["id"] == anonymous["id"]} == {None}


async def test_viewer_tokens_expired_empty_or_of_another_org_reach_nothing(
    hub_server: Any, aiohttp_client: Any, make_token: Any, secret: str
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    rest = Browser(client)

    expired = _signed(secret, exp=int(time.time()) - 1, iat=int(time.time()) - 60)
    status, refused = await rest.error("events.list", bearer=expired, origin=None)
    assert (status, refused["code"]) == (401, "token_expired"), refused
    try:
        await client.ws_connect(f"/ws?token={expired}")
    except aiohttp.WSServerHandshakeError as handshake:
        assert handshake.status == 401, handshake
    else:
        raise AssertionError("an expired viewer token must not open a socket")

    # No events: signed elsewhere it is accepted, and reaches nothing.
    empty = await connect(client, _signed(secret, events=[], sub="viewer-empty"))
    assert ok(await empty.call("events.list"))["events"] == []
    reply = await empty.call("events.get", {"event_id": event_id})
    assert error(reply)["code"] in ("forbidden", "not_found"), reply
    assert (await empty.subscribe(f"event.{event_id}.dashboard"))["error"]["code"] == "forbidden"

    # Another organization's viewer, even with "*" or naming the event outright.
    for events in ("*", [event_id]):
        rival = await connect(client, _signed(secret, org="rival", events=events, sub="spy"))
        assert event_id not in {e["id"] for e in ok(await rival.call("events.list"))["events"]}
        for channel in (f"event.{event_id}.dashboard", f"event.{event_id}.announcements"):
            assert (await rival.subscribe(channel))["error"]["code"] == "forbidden", channel
        reply = await rival.call("events.get", {"event_id": event_id})
        assert error(reply)["code"] in ("forbidden", "not_found"), reply
