"""What every app page shares, in Chromium: the language chosen and kept, the policy.

docs/web.md §Pages and §Headers. Each app's own behaviour is in its tests
(test_organizer_*.py, test_attendee_*.py, test_door*.py).
"""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.web.conftest import BROWSER_WAIT_MS, Stack, open_page


async def test_a_turkish_browser_starts_in_turkish_and_keeps_a_choice(
    browser: Browser, stack: Stack
) -> None:
    watched = await open_page(browser, stack.base_url, locale="tr-TR")
    page = watched.page
    await page.goto("/door")
    title = page.get_by_test_id("title")
    await expect(title).to_have_text("Bilten kapı", timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_role("heading", name="Bu cihazı eşleştir")).to_be_visible()
    await page.get_by_label("Dil").select_option("en")
    await expect(title).to_have_text("Bilten door")
    await page.reload()
    await expect(title).to_have_text("Bilten door", timeout=BROWSER_WAIT_MS)
    assert "⟦" not in await page.inner_text("body")
    await watched.assert_clean()


async def test_the_policy_refuses_inline_script_and_eval(browser: Browser, stack: Stack) -> None:
    """The watch the other tests rely on sees violations, and the policy makes them."""
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await page.goto("/organizer")
    await expect(page.get_by_test_id("title")).to_have_text("Bilten organizer")
    # A string timer is compiled by the page itself, outside this evaluation (which
    # DevTools lets eval): it meets the policy as any page code would.
    await page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.body.append(script);
          setTimeout("window.evalRan = true", 0);
        }"""
    )
    await page.wait_for_function("() => window.__violations.length === 2")
    assert await page.evaluate("[window.inlineRan, window.evalRan]") == [None, None]
    directives = sorted(v.split(" ")[0] for v in await watched.violations())
    assert directives == ["script-src", "script-src-elem"]  # the timer's eval, the element
