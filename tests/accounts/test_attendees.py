"""Attendees through a real hub and workers: sign-in links, their sessions, orders, tickets,
connection tokens, and every refusal the security rules ask for (docs/accounts.md §Attendees).

Links are read from the `mail.requested` events on the stream;
test_attendee_mail.py follows one through a real SMTP server."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bilten.hub.sessions import ATTENDEE_COOKIE, COOKIE
from bilten.infra.settings import Settings
from bilten.protocol.attendees import LINK_LIMITS, attendee_sub
from tests.accounts.attendee_helpers import (
    attendee_cookie,
    buy,
    ga_event,
    link_for,
    sign_in,
)
from tests.accounts.helpers import Browser, mails_to
from tests.allocation.helpers import db


async def test_an_attendee_sees_its_orders_and_tickets_in_every_event(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    jazz = await ga_event(client, make_token, "acme", "Sarajevo Jazz Night")
    film = await ga_event(client, make_token, "kino", "Film Festival")
    first = await buy(client, make_token, "acme", jazz, "Amra@Example.org", quantity=2)
    second = await buy(client, make_token, "kino", film, "amra@example.org")
    await buy(client, make_token, "acme", jazz, "someone.else@example.org")

    browser = Browser(client)
    status, body, resp = await browser.raw("auth.link.request", email=" AMRA@example.org ")
    assert (status, body) == (200, {"done": True})
    token = await link_for(workers, "amra@example.org")
    status, me, resp = await browser.raw("auth.link.redeem", token=token)
    assert status == 200 and "attendee_session" not in me  # the secret is in the cookie only
    assert me["attendee"]["email"] == "amra@example.org"
    cookie = resp.cookies[ATTENDEE_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert COOKIE not in resp.cookies
    assert (await browser.call("attendee.me")) == me

    orders = (await browser.call("attendee.orders"))["orders"]
    assert [o["order_id"] for o in orders] == [first["order_id"], second["order_id"]]
    assert [(o["org"], o["event_name"]) for o in orders] == [
        ("acme", "Sarajevo Jazz Night"),
        ("kino", "Film Festival"),
    ]
    assert orders[0]["tickets"] == first["tickets"]  # codes included, as at the purchase

    page = await browser.call("attendee.tickets", limit=2)
    assert [t["id"] for t in page["tickets"]] == [t["id"] for t in first["tickets"]]
    assert page["next"] == first["tickets"][-1]["id"]
    rest = await browser.call("attendee.tickets", after=page["next"])
    assert [t["id"] for t in rest["tickets"]] == [second["tickets"][0]["id"]]
    assert rest["next"] is None
    for ticket in page["tickets"] + rest["tickets"]:
        assert ticket["qr_svg"].startswith("<?xml") and "<svg" in ticket["qr_svg"]
        assert ticket["code"] and ticket["order_id"] in (first["order_id"], second["order_id"])


async def test_the_attendee_token_covers_the_events_one_holds_tickets_for(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    jazz = await ga_event(client, make_token, "acme", "Sarajevo Jazz Night")
    other_acme = await ga_event(client, make_token, "acme", "Rock Night")
    film = await ga_event(client, make_token, "kino", "Film Festival")
    await buy(client, make_token, "acme", jazz, "lejla@example.org")
    await buy(client, make_token, "kino", film, "lejla@example.org")
    browser = Browser(client)
    me = await sign_in(browser, workers, "lejla@example.org")

    granted = await browser.call("attendee.token", org="acme")
    assert granted["role"] == "attendee" and granted["sub"] == attendee_sub(me["attendee"]["id"])
    bearer = {"Authorization": f"Bearer {granted['token']}"}
    assert (await client.get(f"/api/v1/events/{jazz[0]}", headers=bearer)).status == 200
    # Not an event it holds tickets for, nor one of another organization.
    for event_id in (other_acme[0], film[0]):
        refused = await client.get(f"/api/v1/events/{event_id}", headers=bearer)
        assert refused.status == 403, event_id
    # Live pages: the event's public channels over /ws.
    async with client.ws_connect(f"/ws?token={granted['token']}") as ws:
        await ws.send_json(
            {"op": "subscribe", "id": 1, "channel": f"event.{jazz[0]}.announcements"}
        )
        reply = await ws.receive_json()
        assert reply["op"] == "subscribed", reply

    # Organizer-only commands stay refused to the token.
    created = await client.post("/api/v1/events", json={}, headers=bearer)
    assert (created.status, (await created.json())["error"]["code"]) == (403, "forbidden")
    issued = await client.post(
        f"/api/v1/events/{jazz[0]}/tickets",
        json={"ticket_type_id": jazz[1], "holder": "Me"},
        headers=bearer,
    )
    assert issued.status == 403
    # An organization without its orders, and events outside them: refused alike.
    for params in ({"org": "nobody"}, {"org": "acme", "events": [other_acme[0]]}):
        status, error = await browser.error("attendee.token", **params)
        assert (status, error["code"]) == (403, "forbidden"), params
    kino = await browser.call("attendee.token", org="kino", events=[film[0]])
    assert kino["sub"] == granted["sub"]


async def test_the_attendee_token_reaches_listed_events_without_tickets(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """An event's page (/e/{event_id}) is where a first buyer follows it and buys."""
    client = await aiohttp_client(hub_server)
    jazz = await ga_event(client, make_token, "acme", "Sarajevo Jazz Night")
    rock = await ga_event(client, make_token, "acme", "Rock Night")
    film = await ga_event(client, make_token, "kino", "Film Festival")
    browser = Browser(client)
    me = await sign_in(browser, workers, "first.buyer@example.org")

    granted = await browser.call("attendee.token", events=[rock[0], jazz[0]])
    assert granted["role"] == "attendee" and granted["sub"] == attendee_sub(me["attendee"]["id"])
    bearer = {"Authorization": f"Bearer {granted['token']}"}
    for event_id in (jazz[0], rock[0]):
        assert (await client.get(f"/api/v1/events/{event_id}", headers=bearer)).status == 200
    assert (await client.get(f"/api/v1/events/{film[0]}", headers=bearer)).status == 403
    held = await client.post(
        f"/api/v1/events/{jazz[0]}/holds",
        json={"ticket_type_id": jazz[1], "quantity": 1},
        headers=bearer,
    )
    assert (await held.json())["status"] == "held"

    for params, expected in (
        ({"events": [jazz[0], film[0]]}, (400, "bad_request", "events")),
        ({"events": [film[0] + 1000]}, (404, "not_found", "events")),
        ({}, (400, "bad_request", "org")),
        ({"events": None}, (400, "bad_request", "org")),
    ):
        status, error = await browser.error("attendee.token", **params)
        assert (status, error["code"], error["details"]["field"]) == expected, params
    # Naming the organization keeps its rule: only the events one holds tickets for.
    status, error = await browser.error("attendee.token", org="acme", events=[jazz[0]])
    assert (status, error["code"]) == (403, "forbidden")


async def test_the_link_is_single_use_and_expires(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    await browser.call("auth.link.request", email="once@example.org")
    token = await link_for(workers, "once@example.org")
    await browser.call("auth.link.redeem", token=token)
    again = Browser(await aiohttp_client(hub_server))
    status, error = await again.error("auth.link.redeem", token=token)
    assert (status, error["code"]) == (404, "not_found")
    assert attendee_cookie(again) is None

    await browser.call("auth.link.request", email="late@example.org")
    late = await link_for(workers, "late@example.org")
    # Its minutes have passed (set in the database: the test does not wait them out).
    await db(workers, "UPDATE attendee_links SET expires_at = now() - interval '1 second'")
    status, error = await again.error("auth.link.redeem", token=late)
    assert (status, error["code"]) == (404, "not_found")
    status, error = await again.error("auth.link.redeem", token="x" * 43)
    assert (status, error["code"]) == (404, "not_found")


async def test_unknown_and_known_addresses_get_the_same_answer(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    jazz = await ga_event(client, make_token, "acme", "Sarajevo Jazz Night")
    await buy(client, make_token, "acme", jazz, "buyer@example.org")
    browser = Browser(client)
    answers = []
    for email in ("buyer@example.org", "stranger@example.org"):
        status, body, resp = await browser.raw("auth.link.request", email=email)
        headers = {k: v for k, v in resp.headers.items() if k not in ("Date", "Content-Length")}
        answers.append((status, body, headers, await resp.read()))
        # The same work too: a link is mailed either way.
        await link_for(workers, email)
    assert answers[0] == answers[1]
    # An address without orders signs in to an empty list.
    stranger = Browser(await aiohttp_client(hub_server))
    await stranger.call("auth.link.redeem", token=await link_for(workers, "stranger@example.org"))
    assert (await stranger.call("attendee.orders")) == {"orders": [], "next": None}
    assert (await stranger.call("attendee.tickets")) == {"tickets": [], "next": None}


async def test_requests_are_rate_limited_per_address(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    allowed = LINK_LIMITS["email"].count
    for _ in range(allowed):
        await browser.call("auth.link.request", email="flood@example.org")
    status, error = await browser.error("auth.link.request", email="Flood@Example.org")
    assert (status, error["code"]) == (429, "rate_limited")
    assert 0 < error["details"]["retry_after"] <= LINK_LIMITS["email"].per_s
    assert len(await mails_to(workers, "flood@example.org", "signin_link")) == allowed
    await browser.call("auth.link.request", email="another@example.org")  # its own count


async def test_an_attendee_session_sees_only_its_own_orders(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    jazz = await ga_event(client, make_token, "acme", "Sarajevo Jazz Night")
    mine = await buy(client, make_token, "acme", jazz, "mine@example.org")
    await buy(client, make_token, "acme", jazz, "yours@example.org")
    me = Browser(client)
    await sign_in(me, workers, "mine@example.org")
    you = Browser(await aiohttp_client(hub_server))
    await sign_in(you, workers, "yours@example.org")
    orders = (await me.call("attendee.orders"))["orders"]
    assert [o["order_id"] for o in orders] == [mine["order_id"]]
    tickets = (await me.call("attendee.tickets"))["tickets"]
    assert [t["id"] for t in tickets] == [t["id"] for t in mine["tickets"]]
    # The attendee token reads back no one else's order either.
    token = (await me.call("attendee.token", org="acme"))["token"]
    listed = await client.get(
        f"/api/v1/events/{jazz[0]}/orders", headers={"Authorization": f"Bearer {token}"}
    )
    assert (await listed.json())["orders"] == []


async def test_an_attendee_session_never_acts_as_an_organizer(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    owner = Browser(await aiohttp_client(hub_server))
    org = (await owner.signup("owner@example.org"))["memberships"][0]["org"]
    # The organizer signs in as an attendee too, in another browser.
    browser = Browser(await aiohttp_client(hub_server))
    await sign_in(browser, workers, "owner@example.org")
    assert browser.cookie is None and attendee_cookie(browser)
    for method, params in (
        ("auth.me", {}),
        ("auth.token", {"org": org}),
        ("orgs.members.list", {"org": org}),
        ("orgs.invitations.create", {"org": org, "email": "x@example.org", "role": "owner"}),
    ):
        status, error = await browser.error(method, **params)
        assert (status, error["code"]) == (401, "unauthorized"), method
    # Even the attendee secret sent as an organizer's cookie is no session.
    browser.client.session.cookie_jar.update_cookies({COOKIE: attendee_cookie(browser)})
    status, error = await browser.error("auth.me")
    assert (status, error["code"]) == (401, "unauthorized")
    # Nor the reverse: the organizer's cookie is no attendee session.
    owner.client.session.cookie_jar.update_cookies({ATTENDEE_COOKIE: owner.cookie})
    status, error = await owner.error("attendee.orders")
    assert (status, error["code"]) == (401, "unauthorized")


async def test_sign_out_and_csrf(workers: Settings, hub_server: Any, aiohttp_client: Any) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    await sign_in(browser, workers, "leaving@example.org")
    kept = attendee_cookie(browser)
    status, error = await browser.error("attendee.token", org="acme", origin=None)
    assert (status, error["code"], error["details"]["reason"]) == (403, "forbidden", "origin")
    status, error = await browser.error("attendee.signout", origin="https://evil.example.org")
    assert (status, error["details"]["reason"]) == (403, "origin")
    assert await browser.call("attendee.signout") == {"signed_out": 1}
    assert attendee_cookie(browser) is None
    browser.client.session.cookie_jar.update_cookies({ATTENDEE_COOKIE: kept})
    status, error = await browser.error("attendee.orders")
    assert (status, error["code"]) == (401, "unauthorized")
    anonymous = Browser(await aiohttp_client(hub_server))
    status, error = await anonymous.error("attendee.me")
    assert (status, error["code"]) == (401, "unauthorized")
    status, error = await anonymous.error("auth.link.request", email="not an address")
    assert (status, error["code"], error["details"]["field"]) == (400, "bad_request", "email")


async def test_no_attendee_secret_is_logged(
    workers: Settings, hub_server: Any, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = Browser(await aiohttp_client(hub_server))
    await browser.call("auth.link.request", email="quiet@example.org")
    link = await link_for(workers, "quiet@example.org")
    await browser.call("auth.link.redeem", token=link)
    await browser.error("auth.link.redeem", token=link)
    secrets = [link, attendee_cookie(browser)]
    assert all(secrets) and caplog.records
    logged = [(r.getMessage(), repr(r.args), repr(getattr(r, "ctx", None))) for r in caplog.records]
    for secret in secrets:
        assert isinstance(secret, str)
        assert not [line for line in logged if any(secret in part for part in line)], secret[:4]
