"""The organization's pages of the organizer console in Chromium against the
accounts backend: the team with invitations, and API keys that work until revoked.

docs/web.md §Organizer console.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Browser, expect

from tests.web.conftest import BROWSER_WAIT_MS
from tests.web.organizer import PASSWORD, assert_clean, open_console


async def test_the_team_shows_the_owner_keeps_one_and_invites(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await page.get_by_role("link", name="Team").click()
    mine = page.get_by_role("combobox", name="Role of ana@example.org")
    await expect(mine).to_have_value("owner", timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_role("button", name="Remove ana@example.org")).to_have_count(0)
    await mine.select_option("manager")  # the last owner cannot step down
    error = page.get_by_test_id("error")
    await expect(error).to_have_attribute("data-code", "conflict", timeout=BROWSER_WAIT_MS)
    await expect(mine).to_have_value("owner")

    await page.get_by_role("textbox", name="E-mail address").fill("bo@example.org")
    await page.get_by_role("combobox", name="Role", exact=True).select_option("door")
    await page.get_by_role("button", name="Send the invitation").click()
    await expect(page.get_by_test_id("invited")).to_have_text(
        "Invitation sent to bo@example.org; the link works for 7 days.", timeout=BROWSER_WAIT_MS
    )
    await assert_clean(console.watched, 409)


async def test_an_api_key_is_shown_once_works_and_stops_when_revoked(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await page.get_by_role("link", name="API keys").click()
    await expect(page.get_by_text("No API keys yet.")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await page.get_by_label("Key name (e.g. Box office)").fill("Box office")
    await page.get_by_role("button", name="Create the key").click()
    shown = page.get_by_test_id("api-key")
    await expect(shown).to_have_text(
        re.compile(r"^bk_\d+_[A-Za-z0-9_-]{43}$"), timeout=BROWSER_WAIT_MS
    )
    key = await shown.inner_text()
    http = await aiohttp_client(hub_server)
    listed = await http.get("/api/v1/events", headers={"Authorization": f"Bearer {key}"})
    assert listed.status == 200
    assert [e["id"] for e in (await listed.json())["events"]] == [console.event_id]

    await page.get_by_role("button", name="Revoke Box office").click()
    await expect(page.get_by_test_id("api-keys").locator("li")).to_have_attribute(
        "data-revoked", "true", timeout=BROWSER_WAIT_MS
    )
    refused = await http.get("/api/v1/events", headers={"Authorization": f"Bearer {key}"})
    assert refused.status == 401
    await assert_clean(console.watched)


async def test_a_webhook_is_registered_pinged_and_its_attempt_logged(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_text("No webhooks yet.")).to_be_visible(timeout=BROWSER_WAIT_MS)
    # A name that never resolves (RFC 2606): accepted, and every attempt fails.
    await page.get_by_label("HTTPS address to post to").fill("https://crm.invalid/bilten")
    await page.get_by_label("Description (optional)").fill("CRM")
    await page.get_by_role("button", name="Add the webhook").click()
    await expect(page.get_by_test_id("webhook-secret")).not_to_be_empty(timeout=BROWSER_WAIT_MS)
    hook = page.get_by_test_id("webhook")
    await expect(hook.get_by_role("heading")).to_have_text("https://crm.invalid/bilten")
    await expect(hook.get_by_text("No deliveries yet.")).to_be_visible()
    listed = await console.call("webhooks.list", {})
    assert [(w["url"], w["kinds"]) for w in listed["webhooks"]] == [
        ("https://crm.invalid/bilten", ["*"])
    ]

    await hook.get_by_role("button", name="Send a test ping").click()
    attempt = hook.get_by_test_id("deliveries").locator("tbody tr")
    await expect(attempt).to_have_attribute("data-outcome", "failed", timeout=BROWSER_WAIT_MS)
    await expect(attempt.locator("td").nth(1)).to_have_text("webhooks.ping")
    await assert_clean(console.watched)


async def test_the_account_changes_its_password_reads_the_audit_and_signs_out_everywhere(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await page.get_by_role("link", name="Account and audit").click()
    audit = page.get_by_test_id("audit").locator("tbody tr")
    await expect(audit.last).to_have_attribute("data-action", "signup", timeout=BROWSER_WAIT_MS)

    await page.get_by_label("Current password").fill("not the password")
    await page.get_by_label("New password").fill("a brand new plum tree")
    await page.get_by_role("button", name="Change the password").click()
    error = page.get_by_test_id("error")
    await expect(error).to_have_attribute("data-code", "bad_credentials", timeout=BROWSER_WAIT_MS)
    await page.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_role("button", name="Change the password").click()
    await expect(page.get_by_test_id("password-changed")).to_have_text(
        "Password changed; other sessions signed out: 0.", timeout=BROWSER_WAIT_MS
    )

    await page.get_by_role("button", name="Sign out on every device").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await assert_clean(console.watched)
