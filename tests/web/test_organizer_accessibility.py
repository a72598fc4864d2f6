"""axe-core over the organizer console: signed out, on the live dashboard, the door
pairing and the polls, in English and Turkish; no serious or critical violation.

docs/web.md §Tests.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, expect

from tests.web.conftest import BROWSER_WAIT_MS, open_page
from tests.web.organizer import open_console
from tests.web.test_accessibility import serious_violations


async def test_the_console_has_no_serious_accessibility_violation(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    signed_out = await open_page(browser, str(hub_server.make_url("")).rstrip("/"))
    await signed_out.page.goto("/organizer")
    await expect(signed_out.page.get_by_role("heading", name="Sign in")).to_be_visible(
        timeout=BROWSER_WAIT_MS
    )
    assert await serious_violations(signed_out.page) == []

    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await expect(page.get_by_test_id("scans-chart").locator("canvas")).to_have_count(
        1, timeout=BROWSER_WAIT_MS
    )
    assert await serious_violations(page) == []

    await page.get_by_role("link", name="Door devices").click()
    await page.get_by_label("Device name (e.g. North door)").fill("North door")
    await page.keyboard.press("Enter")  # the form works from the keyboard
    await expect(page.get_by_test_id("pairing-qr")).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert await serious_violations(page) == []

    await page.get_by_role("link", name="Polls").click()
    await page.get_by_label("New session title").fill("Opening set")
    await page.keyboard.press("Enter")
    await page.get_by_label("Question").fill("How was it?")
    await page.get_by_label("Kind").select_option("rating")
    await page.get_by_role("button", name="Create the poll").click()
    await page.get_by_role("button", name="Open the poll").click()
    await expect(page.get_by_test_id("bars").locator("li")).to_have_count(
        5, timeout=BROWSER_WAIT_MS
    )
    assert await serious_violations(page) == []

    await page.get_by_test_id("language").select_option("tr")
    await expect(page.get_by_role("heading", name="Anketler", exact=True)).to_be_visible()
    assert await serious_violations(page) == []
    await page.get_by_role("link", name="Sunum görünümü").click()
    await expect(page.get_by_test_id("presenter-question")).to_have_text("How was it?")
    assert await serious_violations(page) == []
