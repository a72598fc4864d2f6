"""axe-core over the status page, connected and in both languages: no serious violation.

docs/web.md §Tests. axe is vendored for the tests only (tests/web/vendor/) and
run through DevTools, not as a page script, so the page's policy stays as
served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.web.conftest import BROWSER_WAIT_MS, Stack, open_page

AXE = (Path(__file__).resolve().parent / "vendor" / "axe.min.js").read_text("utf-8")
SERIOUS = ("serious", "critical")


async def serious_violations(page: Page) -> list[tuple[str, list[str]]]:
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(AXE)
    found: list[dict[str, Any]] = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations)"
    )
    return [
        (v["id"], [n["target"][0] for n in v["nodes"]]) for v in found if v["impact"] in SERIOUS
    ]


async def test_the_status_page_has_no_serious_accessibility_violation(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await page.goto("/door")
    await expect(page.get_by_test_id("title")).to_have_text("Bilten door", timeout=BROWSER_WAIT_MS)
    assert await serious_violations(page) == []
    await page.get_by_test_id("channel").fill(f"event.{stack.event_id}.announcements")

    await page.get_by_label("Access token").fill(
        make_token("attendee", sub="browser", events=[stack.event_id])
    )
    await page.keyboard.press("Enter")  # the form works from the keyboard
    state = page.get_by_test_id("state")
    await expect(state).to_have_attribute("data-state", "open", timeout=BROWSER_WAIT_MS)
    await stack.publish(f"event.{stack.event_id}.announcements", {"text": "hello"})
    await expect(page.get_by_test_id("publications").locator("li")).to_have_count(1)
    assert await serious_violations(page) == []

    await page.get_by_test_id("language").select_option("tr")
    await expect(state).to_have_text("bağlı")
    assert await serious_violations(page) == []
    await watched.assert_clean()

    # The check sees a fault when there is one: an input nobody labelled.
    await page.evaluate(
        "document.querySelector('main').append(Object.assign("
        "document.createElement('input'), {type: 'text'}))"
    )
    assert [rule for rule, _ in await serious_violations(page)] == ["label"]
