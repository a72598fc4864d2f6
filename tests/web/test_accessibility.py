"""axe-core for the apps: the check itself, and the helper every app's tests use.

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


async def test_the_check_sees_a_fault_when_there_is_one(browser: Browser, stack: Stack) -> None:
    """The apps' axe checks (test_door.py, test_organizer_accessibility.py, the attendee
    tests) find nothing; here is proof they would: an input nobody labelled."""
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await page.goto("/door")
    await expect(page.get_by_test_id("title")).to_have_text("Bilten door", timeout=BROWSER_WAIT_MS)
    assert await serious_violations(page) == []
    await page.evaluate(
        "document.querySelector('main').append(Object.assign("
        "document.createElement('input'), {type: 'text'}))"
    )
    assert [rule for rule, _ in await serious_violations(page)] == ["label"]
