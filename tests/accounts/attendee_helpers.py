"""Helpers for attendee tests: orders bought with an e-mail address, and signing in by link."""

from __future__ import annotations

from typing import Any

from bilten.hub.sessions import ATTENDEE_COOKIE
from bilten.infra.settings import Settings
from tests.accounts.helpers import Browser, link_token, mails_to
from tests.allocation.helpers import hold, ok
from tests.hub.helpers import connect, create_event
from tests.waiting import wait_for


async def ga_event(client: Any, make_token: Any, org: str, name: str) -> tuple[int, int]:
    """A new event of `org` with one general-admission ticket type: (event id, type id)."""
    organizer = await connect(client, make_token("organizer", org=org))
    event_id = await create_event(organizer, name=name)
    reply = await organizer.call(
        "tickettypes.create",
        {"event_id": event_id, "name": "Stajanje", "price_minor": 1500, "quota": 50},
    )
    await organizer.ws.close()
    return event_id, int(ok(reply)["id"])


async def buy(
    client: Any, make_token: Any, org: str, event: tuple[int, int], email: str, quantity: int = 1
) -> dict[str, Any]:
    """An order confirmed with the buyer's `email`, as a shop's page would place it."""
    event_id, ga = event
    buyer = await connect(client, make_token("attendee", org=org, sub="shop", events=[event_id]))
    held = await hold(buyer, event_id, ticket_type_id=ga, quantity=quantity)
    order = ok(await buyer.call("seats.confirm", {"hold_id": held["hold_id"], "email": email}))
    await buyer.ws.close()
    return dict(order)


def attendee_cookie(browser: Browser) -> str | None:
    """The attendee session cookie the browser holds, if any."""
    for cookie in browser.client.session.cookie_jar:
        if cookie.key == ATTENDEE_COOKIE:
            return str(cookie.value)
    return None


async def link_for(settings: Settings, email: str, count: int = 1) -> str:
    """The token of the `count`th sign-in link mailed to `email`, waited for on the stream."""

    async def nth() -> str | None:
        found = await mails_to(settings, email, "signin_link")
        return link_token(found[0]) if len(found) >= count else None

    return await wait_for(nth, what=f"sign-in link {count} to {email}")


async def sign_in(browser: Browser, settings: Settings, email: str) -> dict[str, Any]:
    """Ask for a link for `email` and redeem it in `browser`; returns the attendee."""
    before = len(await mails_to(settings, email, "signin_link"))
    await browser.call("auth.link.request", email=email)
    token = await link_for(settings, email, before + 1)
    answer: dict[str, Any] = await browser.call("auth.link.redeem", token=token)
    return answer
