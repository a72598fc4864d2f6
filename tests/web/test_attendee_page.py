"""The attendee page in Chromium: signing in by a mailed link, the event live, my tickets.

docs/web.md §Attendee page. A buyer's path: open the event's page, ask for a
sign-in link, follow the link from the mail (read from the outbox), come back
signed in to the event, see announcements as organizers publish them and the
tickets with their QR codes, also once the network is gone.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Browser, Page, expect

from bilten.infra.settings import Settings
from tests.allocation.helpers import ok
from tests.web.attendee_helpers import OFFLINE, SIGNED_OUT, assert_clean, bought, sign_in_on_page
from tests.web.conftest import BROWSER_WAIT_MS, Stack, open_page
from tests.web.test_accessibility import serious_violations

EMAIL = "amra@example.org"


async def drawn_modules(page: Page, index: int) -> set[tuple[int, int]]:
    """The dark modules of the `index`th QR code on the page, read from its SVG path."""
    path = await page.get_by_test_id("qr").nth(index).locator("path").get_attribute("d")
    assert path is not None
    return {(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)h1v1h-1z", path)}


async def reference_modules(page: Page, text: str) -> set[tuple[int, int]]:
    """qrcode-generator's dark modules for `text`, with the four-module margin."""
    found: list[list[int]] = await page.evaluate(
        """async (text) => {
          const url = document.querySelector('script[type=module]').src
            .replace(/js\\/attendee\\/main\\.js$/, "vendor/qrcode.mjs");
          const qrcode = (await import(url)).default;
          const qr = qrcode(0, "M");
          qr.addData(text, "Byte");
          qr.make();
          const dark = [];
          for (let r = 0; r < qr.getModuleCount(); r++)
            for (let c = 0; c < qr.getModuleCount(); c++)
              if (qr.isDark(r, c)) dark.push([c + 4, r + 4]);
          return dark;
        }""",
        text,
    )
    return {(x, y) for x, y in found}


async def test_signs_in_by_mail_and_follows_announcements_live(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL)
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await page.goto(f"/e/{stack.event_id}")
    await expect(page.get_by_test_id("title")).to_have_text("Bilten event", timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_role("heading", name="Sign in by e-mail")).to_be_visible()
    assert await serious_violations(page) == []

    await sign_in_on_page(page, workers, stack, EMAIL)
    assert "#" not in page.url  # the link's secret left the address bar
    cookies = await page.context.cookies()
    assert [c["httpOnly"] for c in cookies if c["name"] == "bilten_attendee"] == [True]
    await expect(page.get_by_text(f"Signed in as {EMAIL}.")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("event-name")).to_have_text(
        "Sarajevo Jazz Night", timeout=BROWSER_WAIT_MS
    )
    # 19:00 in Sarajevo, shown in the event's zone whatever the browser's.
    await expect(page.get_by_test_id("event-date")).to_have_text(
        re.compile(r"Starts Jun 1, 2027, 7:00:00\sPM \(Europe/Sarajevo\)")
    )
    await expect(page.get_by_test_id("state")).to_have_attribute("data-state", "open")

    markup = "<img src=x onerror=alert(1)>Doors open at 18:30"
    await stack.publish(f"event.{stack.event_id}.announcements", {"text": markup})
    log = page.get_by_test_id("announcements").locator("li p")
    await expect(log).to_have_text([markup], timeout=BROWSER_WAIT_MS)
    await stack.publish(f"event.{stack.event_id}.announcements", {"text": "Second set at 21:00"})
    await expect(log).to_have_text(["Second set at 21:00", markup], timeout=BROWSER_WAIT_MS)
    assert await serious_violations(page) == []

    await page.get_by_test_id("language").select_option("tr")
    await expect(page.get_by_role("heading", name="Duyurular")).to_be_visible()
    assert "⟦" not in await page.inner_text("body")
    assert await serious_violations(page) == []
    await assert_clean(watched, SIGNED_OUT)


async def test_shows_my_tickets_as_qr_codes_and_keeps_them_offline(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    order = await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL, quantity=2)
    codes = [ticket["code"] for ticket in order["tickets"]]
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    devtools = await page.context.new_cdp_session(page)
    await devtools.send("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    await sign_in_on_page(page, workers, stack, EMAIL)
    tickets = page.get_by_test_id("ticket")
    await expect(tickets).to_have_count(2, timeout=BROWSER_WAIT_MS)
    assert [await t.get_attribute("data-code") for t in await tickets.all()] == codes
    # 19:00 in Sarajevo is 2:00 the next day in the reader's Tokyo, and it says so.
    await expect(tickets.first).to_contain_text(
        re.compile(r"Jun 2, 2027, 2:00:00\sAM \(Asia/Tokyo time\)")
    )
    for index, code in enumerate(codes):
        drawn = await drawn_modules(page, index)
        assert drawn and drawn == await reference_modules(page, code)
    assert await drawn_modules(page, 0) != await drawn_modules(page, 1)
    await expect(page.get_by_role("img", name="QR code of the ticket of")).to_have_count(2)
    assert await serious_violations(page) == []

    await page.context.set_offline(True)
    status = page.get_by_test_id("tickets-status")
    await expect(status).to_contain_text("You are offline", timeout=BROWSER_WAIT_MS)
    await page.get_by_role("button", name="Refresh my tickets").click()
    await expect(status).to_contain_text("as saved on this device", timeout=BROWSER_WAIT_MS)
    await expect(tickets).to_have_count(2)
    assert await drawn_modules(page, 1) == await reference_modules(page, codes[1])

    await page.context.set_offline(False)
    await page.get_by_role("button", name="Refresh my tickets").click()
    await expect(status).to_have_text("", timeout=BROWSER_WAIT_MS)
    await expect(tickets).to_have_count(2)
    await assert_clean(watched, SIGNED_OUT, OFFLINE)


async def test_a_first_buyer_follows_the_event_and_buys_then_a_used_link_says_so(
    browser: Browser, stack: Stack, workers: Settings
) -> None:
    ok(
        await stack.organizer.call(
            "tickettypes.create",
            {"event_id": stack.event_id, "name": "Parter", "price_minor": 2500, "quota": 50},
        )
    )
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, "first.buyer@example.org")
    await expect(page.get_by_test_id("event-name")).to_have_text(
        "Sarajevo Jazz Night", timeout=BROWSER_WAIT_MS
    )
    await expect(page.get_by_text("You have no tickets yet.")).to_be_visible()
    await page.get_by_role("button", name="Hold the best available").click()
    await page.get_by_role("button", name="Confirm the order").click(timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("ticket")).to_have_count(1, timeout=BROWSER_WAIT_MS)

    await page.goto("/signin#token=" + "x" * 43)
    await expect(page.get_by_role("alert")).to_have_text(
        re.compile("This sign-in link has been used or has expired"), timeout=BROWSER_WAIT_MS
    )
    assert await serious_violations(page) == []
    await page.goto(f"/e/{stack.event_id}")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in by e-mail")).to_be_visible()
    await assert_clean(watched, SIGNED_OUT, "status of 404 (Not Found)")


async def test_a_page_opened_offline_shows_the_saved_tickets(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    order = await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL)
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, EMAIL)
    tickets = page.get_by_test_id("ticket")
    await expect(tickets).to_have_count(1, timeout=BROWSER_WAIT_MS)
    await page.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
    await page.reload()  # now under the worker, which keeps the page as loaded
    await page.wait_for_function("navigator.serviceWorker.controller !== null")
    await expect(tickets).to_have_count(1, timeout=BROWSER_WAIT_MS)

    await page.context.set_offline(True)
    await stack.server.close()  # and the hub gone: nothing can come from the network
    await page.reload()
    await expect(tickets).to_have_count(1, timeout=BROWSER_WAIT_MS)
    code = order["tickets"][0]["code"]
    await expect(tickets).to_have_attribute("data-code", code)
    assert await drawn_modules(page, 0) == await reference_modules(page, code)
    await expect(page.get_by_test_id("tickets-status")).to_contain_text("You are offline")
    await expect(page.get_by_text(f"Signed in as {EMAIL}.")).to_be_visible()
    assert await watched.violations() == []


async def test_signing_out_where_another_tab_already_did_shows_the_visitor_signed_out(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    """Signing out in one tab clears the cookie for all: the other tab's sign-out is then
    `unauthorized`, which means signed out, not "still signed in on the hub"."""
    await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL)
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, EMAIL)
    other = await page.context.new_page()
    await other.goto(f"/e/{stack.event_id}")
    await expect(other.get_by_test_id("ticket")).to_have_count(1, timeout=BROWSER_WAIT_MS)

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in by e-mail")).to_be_visible()
    await other.get_by_role("button", name="Sign out").click()
    await expect(other.get_by_role("heading", name="Sign in by e-mail")).to_be_visible(
        timeout=BROWSER_WAIT_MS
    )
    await expect(other.get_by_role("alert")).to_have_count(0)
    await expect(other.get_by_test_id("ticket")).to_have_count(0)
    await other.close()
    await assert_clean(watched, SIGNED_OUT)
