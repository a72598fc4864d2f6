"""The status page in Chromium: the stack works under its policy, in English and Turkish.

docs/web.md §Pages. A person's path: open an app's page, paste a token,
follow the channel, see publications arrive (as text, even when they look
like markup), switch the language.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, expect

from tests.web.conftest import BROWSER_WAIT_MS, Stack, open_page


async def test_follows_a_channel_live_and_switches_to_turkish(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    watched = await open_page(browser, stack.base_url, locale="en-US")
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    response = await page.goto("/door")
    assert response is not None
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    title = page.get_by_test_id("title")
    await expect(title).to_have_text("Bilten door", timeout=BROWSER_WAIT_MS)
    state = page.get_by_test_id("state")
    await expect(state).to_have_attribute("data-state", "idle")

    channel = f"event.{stack.event_id}.announcements"
    await page.get_by_test_id("channel").fill(channel)
    await page.get_by_label("Access token").fill(
        make_token("attendee", sub="browser", events=[stack.event_id])
    )
    await page.get_by_role("button", name="Connect and follow").click()
    await expect(state).to_have_attribute("data-state", "open", timeout=BROWSER_WAIT_MS)
    await expect(state).to_have_text("connected")
    await expect(page.get_by_test_id("subscription")).to_have_attribute("data-recovered", "false")

    markup = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    await stack.publish(channel, {"text": markup})
    item = page.get_by_test_id("publications").locator("li")
    await expect(item).to_have_count(1, timeout=BROWSER_WAIT_MS)
    await expect(item.locator("code")).to_have_text(f'{{"text":"{markup}"}}')
    await expect(item).to_have_attribute("data-offset", "1")

    await page.get_by_test_id("language").select_option("tr")
    await expect(title).to_have_text("Bilten kapı")
    await expect(page.get_by_role("button", name="Bağlan ve izle")).to_be_visible()
    await expect(state).to_have_text("bağlı")
    assert await page.evaluate("document.documentElement.lang") == "tr"
    assert "⟦" not in await page.inner_text("body")  # no key without a Turkish string
    assert dialogs == []
    await watched.assert_clean()


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


async def test_a_refused_subscription_is_shown_with_its_code(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await page.goto("/door")  # /organizer is the console now (docs/web.md §Organizer console)
    await page.get_by_label("Access token").fill(
        make_token("attendee", sub="browser", events=[stack.event_id])
    )
    await page.get_by_label("Channel", exact=True).fill(f"event.{stack.event_id}.dashboard")
    await page.get_by_role("button", name="Connect and follow").click()
    error = page.get_by_test_id("error")
    await expect(error).to_have_attribute("data-code", "forbidden", timeout=BROWSER_WAIT_MS)
    await expect(error).to_have_text("The hub refused: forbidden")
    assert await watched.violations() == []


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
