"""What the organizer console's browser tests share: a hub, an account signed up
through the page, an event created through it, and the backend acting on that event
the way box office and door devices would."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, Locator, Page, expect

from tests.hub.helpers import connect
from tests.web.conftest import BROWSER_WAIT_MS, Watched, open_page

PASSWORD = "plum tree at dawn"


@dataclass(frozen=True)
class Console:
    """The console open in a page, signed in as a new account, showing one event."""

    watched: Watched
    org: str
    event_id: int
    client: Any  # the hub's test client, for the backend's sockets
    token: str  # an organizer of the account's organization

    @property
    def base_url(self) -> str:
        return str(self.page.url).split("/organizer", 1)[0]

    @property
    def page(self) -> Page:
        return self.watched.page

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """A command as the organizer, on a socket of its own: one kept idle while the
        browser works would not answer the hub's pings (aiohttp answers them only while
        reading) and be cut with `ping_timeout`."""
        backend = await connect(self.client, self.token)
        try:
            reply = await backend.call(method, params)
        finally:
            await backend.ws.close()
        assert reply["op"] == "result", reply
        return reply["result"]


async def assert_clean(watched: Watched, *refusals: int) -> None:
    """No CSP violation, and no console error but the refusals the test expects.

    Chromium logs every refused request as a console error: the console asks
    `auth.me` (401) before it knows of a session, so 401 is always expected.
    """
    assert await watched.violations() == []
    expected = tuple(f"status of {status} (" for status in (401, *refusals))
    assert [e for e in watched.errors if not any(s in e for s in expected)] == []


async def sign_up(page: Page, email: str, organization: str) -> None:
    """Sign up through the page's form; the console opens."""
    await page.goto("/organizer")
    await page.get_by_role("button", name="New here? Sign up").click()
    await page.get_by_label("Organization name").fill(organization)
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create the account").click()
    await expect(page.get_by_test_id("account")).to_have_text(
        f"Signed in as {email}", timeout=BROWSER_WAIT_MS
    )


async def create_event(page: Page, name: str) -> int:
    """Create an event through the page's form (Istanbul, liras); the page opens it."""
    await page.get_by_label("Event name").fill(name)
    await page.get_by_label("Starts").fill("2027-06-01T19:00")
    await page.get_by_label("Ends").fill("2027-06-01T23:30")
    await page.get_by_label("Time zone").select_option("Europe/Istanbul")
    await page.get_by_label("Locale (e.g. tr-TR)").fill("tr-TR")
    await page.get_by_label("Currency").select_option("TRY")
    await page.get_by_role("button", name="Create the event").click()
    await expect(page.get_by_test_id("event-name")).to_have_text(name, timeout=BROWSER_WAIT_MS)
    return int(page.url.rsplit("/", 1)[1])


async def open_console(
    browser: Browser, server: Any, aiohttp_client: Any, make_token: Any, email: str
) -> Console:
    base_url = str(server.make_url("")).rstrip("/")
    watched = await open_page(browser, base_url)
    await sign_up(watched.page, email, "Jazz Club")
    event_id = await create_event(watched.page, "Sarajevo Jazz Night")
    me = await (await watched.page.context.request.get("/api/v1/auth/me")).json()
    org = me["memberships"][0]["org"]
    client = await aiohttp_client(server)
    token = make_token("organizer", org=org, sub="box-office")
    return Console(watched, org, event_id, client, token)


async def add_session(page: Page, title: str) -> None:
    """On the Polls page, add a session; the form selects it once the hub has stored it."""
    await page.get_by_role("link", name="Polls").click()
    await page.get_by_label("New session title").fill(title)
    await page.get_by_role("button", name="Add the session").click()
    await expect(page.get_by_role("combobox", name="Session", exact=True)).to_have_value(
        re.compile(r"^\d+$"), timeout=BROWSER_WAIT_MS
    )


async def open_new_poll(page: Page, question: str, options: str) -> Locator:
    """Create a poll in the selected session with what the form holds besides, and open it."""
    await page.get_by_role("textbox", name="Question", exact=True).fill(question)
    await page.get_by_label("Options, one per line").fill(options)
    await page.get_by_role("button", name="Create the poll").click()
    poll = page.get_by_test_id("poll")
    await poll.get_by_role("button", name="Open the poll").click(timeout=BROWSER_WAIT_MS)
    await expect(poll.get_by_test_id("poll-status")).to_have_text("Open", timeout=BROWSER_WAIT_MS)
    return poll
