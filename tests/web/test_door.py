"""The door app in Chromium: pairing, scanning online, verdicts, the live count.

docs/web.md §Door. A door person's path: open /door, type the organizer's
pairing code, pick a gate, scan (a keyboard-wedge scanner types the code and
Enter), see a full-screen verdict with the reason and holder, switch to exit,
see the inside count move with other doors' scans, unpair.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, Page, expect

from tests.web.conftest import BROWSER_WAIT_MS, open_page
from tests.web.door_helpers import HOLDER, WATCH_SIGNALS, door_event, scan
from tests.web.test_accessibility import AXE, SERIOUS, serious_violations

PHONE = {"width": 390, "height": 844}
REFUSED_REDEMPTION = (
    "Failed to load resource: the server responded with a status of 404 (Not Found)"
)


async def violations_while_paused(page: Page) -> list[tuple[str, list[str]]]:
    """axe's serious violations on a page whose clock is paused: its timers are stepped by hand."""
    await page.evaluate(AXE)
    await page.evaluate(
        "() => { window.__axe = null; axe.run(document, {resultTypes: ['violations']})"
        ".then((r) => { window.__axe = r.violations; }); }"
    )
    for _ in range(200):  # 10 ms of the page's time each: well within a verdict's 4 s
        found: list[dict[str, Any]] | None = await page.evaluate("window.__axe")
        if found is not None:
            return [
                (v["id"], [n["target"][0] for n in v["nodes"]])
                for v in found
                if v["impact"] in SERIOUS
            ]
        await page.clock.run_for(10)
    raise AssertionError("axe did not finish")


async def test_pairs_scans_and_shows_verdicts(
    browser: Browser, hub_server: Any, aiohttp_client: Any
) -> None:
    door = await door_event(await aiohttp_client(hub_server))
    # Far from the event's zone (Europe/Sarajevo): times must be shown in the event's.
    watched = await open_page(browser, door.base_url, timezone_id="Pacific/Kiritimati")
    page = watched.page
    await page.add_init_script(WATCH_SIGNALS)
    await page.clock.install()
    await page.goto("/door")
    await expect(page.get_by_role("heading", name="Pair this device")).to_be_visible()

    await page.get_by_label("Pairing code").fill("ZZZZ-ZZZZ-ZZZZ")
    await page.get_by_role("button", name="Pair").click()
    await expect(page.get_by_test_id("pair-error")).to_have_text(
        "This code is unknown, used or expired: ask the organizer for a new one."
    )
    await page.get_by_label("Pairing code").fill(await door.pairing_code())
    await page.get_by_role("button", name="Pair").click()
    await expect(page.get_by_test_id("event")).to_have_text("Sarajevo Jazz Night")
    await expect(page.get_by_test_id("connection")).to_have_text("Online: the hub decides.")
    await expect(page.get_by_test_id("inside")).to_have_text("0")
    await page.get_by_label("Gate").select_option("north")

    verdict = page.get_by_test_id("verdict")
    await scan(page, door.codes[0])
    await expect(verdict).to_have_attribute("data-status", "ok")
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Admitted")
    await expect(page.get_by_test_id("verdict-holder")).to_have_text(HOLDER)
    await expect(verdict).to_have_attribute("role", "status")
    await expect(page.get_by_test_id("inside")).to_have_text("1")
    assert await page.evaluate("window.__vibrations") == [[80]]
    assert await page.evaluate("window.__tones") == [880]  # one high note

    await scan(page, door.codes[0])
    await expect(verdict).to_have_attribute("data-status", "rejected")
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Refused")
    await expect(page.get_by_test_id("verdict-reason")).to_have_text("Already inside.")
    await expect(page.get_by_test_id("verdict-previous")).to_contain_text("north")
    previous = await page.get_by_test_id("verdict-previous").inner_text()
    shown = re.search(r"(\d{1,2}):\d{2}:\d{2}\W*([AP]M)", previous)
    assert shown is not None
    hour = int(shown[1]) % 12 + (12 if shown[2] == "PM" else 0)
    there = datetime.now(ZoneInfo("Europe/Sarajevo"))  # the entry was made moments ago
    assert hour in {there.hour, (there - timedelta(hours=1)).hour}, shown[0]
    await expect(page.get_by_test_id("verdict-offline")).to_have_count(0)
    assert await page.evaluate("window.__vibrations") == [[80], [120, 60, 120]]
    assert await page.evaluate("window.__tones") == [880, 220, 220]  # then two low ones

    # With the page's clock stopped, the verdict stays full screen until "Next".
    await page.clock.pause_at(await page.evaluate("Date.now() / 1000 + 1"))
    await scan(page, "not-a-ticket")
    await expect(page.get_by_test_id("verdict-reason")).to_have_text(
        "Not a ticket of ours: the code is not valid."
    )
    await expect(verdict).to_have_class(re.compile("verdict-full"))
    await page.get_by_role("button", name="Next").click()
    await expect(verdict).not_to_have_class(re.compile("verdict-full"))
    await expect(verdict).to_contain_text("Refused")  # the last verdict stays, as a strip
    await expect(page.get_by_label("Ticket code")).to_be_focused()
    await page.clock.resume()

    # Another door's scan moves the count live.
    await door.scan_elsewhere(door.codes[1])
    await expect(page.get_by_test_id("inside")).to_have_text("2", timeout=BROWSER_WAIT_MS)

    await page.get_by_label("Exit").check()
    await scan(page, door.codes[0])
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Exit recorded")
    await expect(verdict).not_to_have_class(re.compile("verdict-full"), timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("inside")).to_have_text("1")

    # Another door syncs an earlier offline entry of a ticket this door let in:
    # this door's entry is revised to a conflict, and the door lists it.
    await page.get_by_label("Entry").check()
    await scan(page, door.codes[2])
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Admitted")
    earlier = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    await door.sync_elsewhere(door.codes[2], earlier)
    conflicts = page.get_by_test_id("conflicts").locator("li")
    await expect(conflicts).to_have_count(1, timeout=BROWSER_WAIT_MS)
    await expect(conflicts).to_contain_text(f"{HOLDER} Already inside. at north")
    await page.get_by_label("Exit").check()

    # The pairing, gate and direction outlast a reload; unpairing forgets them.
    await page.reload()
    await expect(page.get_by_label("Gate")).to_have_value("north")
    await expect(page.get_by_label("Exit")).to_be_checked()
    await page.get_by_role("button", name="Unpair this device").click()
    await expect(page.get_by_role("heading", name="Pair this device")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("heading", name="Pair this device")).to_be_visible()
    # The browser reports the refused redemption itself; nothing else went wrong.
    assert watched.errors == [REFUSED_REDEMPTION]
    assert await watched.violations() == []


async def test_pairs_from_the_qr_link_on_a_phone_in_turkish(
    browser: Browser, hub_server: Any, aiohttp_client: Any
) -> None:
    door = await door_event(await aiohttp_client(hub_server))
    watched = await open_page(browser, door.base_url, locale="tr-TR")
    page = watched.page
    await page.set_viewport_size(PHONE)
    await page.goto("/door")
    await expect(page.get_by_role("heading", name="Bu cihazı eşleştir")).to_be_visible()
    assert await serious_violations(page) == []

    # The organizer's QR holds /pair#code=…: opening it pairs, and the code leaves the URL.
    await page.goto(f"/pair#code={await door.pairing_code()}")
    gate = page.get_by_label("Kapı")
    await expect(gate).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert page.url.endswith("/door")
    await gate.select_option("south")
    await expect(page.get_by_test_id("bundle")).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert await serious_violations(page) == []

    await page.clock.install()
    await page.clock.pause_at(await page.evaluate("Date.now() / 1000 + 1"))
    await scan(page, door.codes[0], label="Bilet kodu")
    verdict = page.get_by_test_id("verdict")
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Girebilir")
    await expect(page.get_by_test_id("verdict-holder")).to_have_text(HOLDER)
    box = await verdict.evaluate("(e) => e.getBoundingClientRect().toJSON()")
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)  # the screen
    assert await violations_while_paused(page) == []
    await scan(page, door.codes[0], label="Bilet kodu")
    await expect(page.get_by_test_id("verdict-reason")).to_have_text("Zaten içeride.")
    assert await violations_while_paused(page) == []
    await expect(verdict).to_have_class(re.compile("verdict-full"))  # checked full screen
    await page.clock.resume()
    await expect(page.get_by_test_id("inside")).to_have_text("1")
    assert "⟦" not in await page.inner_text("body")  # no key without a Turkish string
    # Nothing is wider than the phone.
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await watched.assert_clean()
