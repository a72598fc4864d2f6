"""Helpers for the attendee page's browser tests: a buyer with an order, signed in by link."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from bilten.infra.settings import Settings
from tests.accounts.attendee_helpers import link_for
from tests.accounts.helpers import mails_to
from tests.allocation.helpers import hold, ok
from tests.hub.helpers import connect
from tests.web.conftest import BROWSER_WAIT_MS, Stack, Watched


async def bought(
    stack: Stack, client: Any, make_token: Any, email: str, quantity: int = 1
) -> dict[str, Any]:
    """An order of `quantity` general-admission places of the stack's event, for `email`,
    placed by a shop's attendee token over `client` (an aiohttp test client of the hub)."""
    ticket_type = ok(
        await stack.organizer.call(
            "tickettypes.create",
            {"event_id": stack.event_id, "name": "Parter", "price_minor": 2500, "quota": 50},
        )
    )
    shop = await connect(client, make_token("attendee", sub="shop", events=[stack.event_id]))
    held = await hold(shop, stack.event_id, ticket_type_id=ticket_type["id"], quantity=quantity)
    order = ok(await shop.call("seats.confirm", {"hold_id": held["hold_id"], "email": email}))
    await shop.ws.close()
    return dict(order)


async def sign_in_on_page(page: Page, settings: Settings, stack: Stack, email: str) -> None:
    """Ask for a link on the stack's event page, then follow the mailed link."""
    await sign_in_by_link(page, settings, stack.event_id, email)


async def sign_in_by_link(page: Page, settings: Settings, event_id: int, email: str) -> None:
    """Ask for a link on the event page, then follow the mailed link as the reader would."""
    before = len(await mails_to(settings, email, "signin_link"))
    await page.goto(f"/e/{event_id}")
    await page.get_by_label("E-mail address").fill(email)
    await page.keyboard.press("Enter")  # the form works from the keyboard
    await expect(page.get_by_test_id("signin-status")).to_contain_text(
        "Check your mail", timeout=BROWSER_WAIT_MS
    )
    token = await link_for(settings, email, before + 1)
    await page.goto(f"/signin#token={token}")
    await page.wait_for_url(f"**/e/{event_id}", timeout=BROWSER_WAIT_MS)


async def assert_clean(watched: Watched, *expected: str) -> None:
    """No policy violation and no error but the browser's notes of `expected` failed loads
    (a 401 from `attendee/me` is how a page learns that no one is signed in)."""
    assert await watched.violations() == []
    assert [e for e in watched.errors if not any(x in e for x in expected)] == []


SIGNED_OUT = "status of 401 (Unauthorized)"
OFFLINE = "net::ERR_INTERNET_DISCONNECTED"
