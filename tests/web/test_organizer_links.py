"""The organizer's mailed links in Chromium: an invitation accepted at /join, a
password reset asked for and set at /reset, with the tokens the accounts worker
mailed (docs/accounts.md §Flows, docs/web.md §Organizer console)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, expect

from bilten.infra.settings import Settings
from tests.accounts.helpers import link_token, mail_to
from tests.web.conftest import BROWSER_WAIT_MS, open_page
from tests.web.organizer import PASSWORD, assert_clean, open_console


async def test_an_invitation_is_accepted_at_join_and_opens_the_console(
    browser: Browser, workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await page.get_by_role("link", name="Team").click()
    await page.get_by_role("textbox", name="E-mail address").fill("bo@example.org")
    await page.get_by_role("combobox", name="Role", exact=True).select_option("manager")
    await page.get_by_role("button", name="Send the invitation").click()
    await expect(page.get_by_test_id("invited")).not_to_be_empty(timeout=BROWSER_WAIT_MS)
    token = link_token(await mail_to(workers, "bo@example.org", "invitation"))

    invited = await open_page(browser, console.base_url)
    await invited.page.goto(f"/join#token={token}")
    await invited.page.get_by_label("Password").fill("another plum tree")
    await invited.page.get_by_role("button", name="Accept the invitation").click()
    await expect(invited.page.get_by_test_id("account")).to_have_text(
        "Signed in as bo@example.org", timeout=BROWSER_WAIT_MS
    )
    assert invited.page.url.endswith("/organizer")  # the token left the address bar
    await expect(invited.page.get_by_role("link", name="Sarajevo Jazz Night")).to_be_visible()
    await assert_clean(invited)


async def test_a_forgotten_password_is_reset_through_the_mailed_link(
    browser: Browser, workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    await console.page.get_by_role("button", name="Sign out").click()
    watched = await open_page(browser, console.base_url)
    page = watched.page
    await page.goto("/organizer")
    await page.get_by_role("button", name="Forgot your password?").click()
    await page.get_by_label("E-mail address").fill("ana@example.org")
    await page.get_by_role("button", name="Send me a link").click()
    await expect(page.get_by_test_id("forgot-sent")).to_contain_text(
        "If ana@example.org has an account", timeout=BROWSER_WAIT_MS
    )
    mail = await mail_to(workers, "ana@example.org", "password_reset")
    assert mail["locale"] == "en"

    await page.goto(f"/reset#token={link_token(mail)}")
    await page.get_by_label("New password", exact=True).fill("a brand new plum tree")
    await page.get_by_role("button", name="Set the password").click()
    await expect(page.get_by_test_id("notice")).to_have_text(
        "Your password is set: sign in with it.", timeout=BROWSER_WAIT_MS
    )
    await page.get_by_label("E-mail address").fill("ana@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("error")).to_have_attribute(
        "data-code", "bad_credentials", timeout=BROWSER_WAIT_MS
    )
    await page.get_by_label("Password").fill("a brand new plum tree")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("account")).to_have_text(
        "Signed in as ana@example.org", timeout=BROWSER_WAIT_MS
    )
    await assert_clean(watched)
