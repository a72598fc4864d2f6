"""The organizer console in Chromium against the real accounts backend and hub:
sign up, create an event, watch its dashboard move as tickets are scanned and sold.

docs/web.md §Organizer console.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, expect

from bilten.hub.runtime import HUB
from tests.web.conftest import BROWSER_WAIT_MS, open_page
from tests.web.organizer import PASSWORD, assert_clean, open_console


async def test_sign_up_create_an_event_and_watch_its_dashboard_live(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    assert page.url.endswith(f"#event/{event_id}")
    event = await console.call("events.get", {"event_id": event_id})
    assert (event["starts_at"], event["timezone"], event["currency"]) == (
        "2027-06-01T16:00:00+00:00",  # 19:00 in Istanbul
        "Europe/Istanbul",
        "TRY",
    )
    await expect(page.get_by_test_id("state")).to_have_attribute("data-state", "open")
    inside = page.get_by_test_id("inside")
    await expect(inside).to_have_text("0", timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("rejections")).to_have_text("Rejected scans by reason: none")

    ticket_type = await console.call(
        "tickettypes.create", {"event_id": event_id, "name": "Standing", "price_minor": 2500}
    )
    await console.call("gates.set", {"event_id": event_id, "gates": ["north", "south"]})
    issued = await console.call(
        "tickets.issue",
        {"event_id": event_id, "ticket_type_id": ticket_type["id"], "count": 3, "holder": "Amra"},
    )
    codes = [ticket["code"] for ticket in issued["tickets"]]
    for code, gate in [(codes[0], "north"), (codes[0], "north"), (codes[1], "south")]:
        await console.call("checkin.scan", {"event_id": event_id, "code": code, "gate": gate})

    await expect(inside).to_have_text("2", timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("checked-in")).to_have_text("2")
    by_gate = page.get_by_test_id("inside-by-gate")
    await expect(by_gate.locator("tr[data-name=north] td")).to_have_text("1")
    await expect(by_gate.locator("tr[data-name=south] td")).to_have_text("1")
    rejected = page.get_by_test_id("rejections").locator("tr[data-name=already_inside]")
    await expect(rejected).to_have_text("Already inside1")
    await expect(page.get_by_test_id("scans-summary")).to_contain_text("Scans in the last hour: 3;")
    await expect(page.get_by_test_id("scans-chart").locator("canvas")).to_have_count(1)
    online = page.get_by_test_id("online").locator("tr[data-name=organizer]")
    await expect(online).to_have_text("Organizers1")  # this page; the backend follows nothing

    hold = await console.call(
        "seats.hold", {"event_id": event_id, "ticket_type_id": ticket_type["id"], "quantity": 2}
    )
    await console.call("seats.confirm", {"hold_id": hold["hold_id"]})
    await expect(page.get_by_test_id("orders")).to_have_text("1", timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("tickets")).to_have_text("2")
    await expect(page.get_by_test_id("revenue-TRY")).to_have_text("TRY 50.00")

    await page.get_by_test_id("language").select_option("tr")
    await expect(page.get_by_text("Şu an içeride")).to_be_visible()
    await expect(page.get_by_test_id("revenue-TRY")).to_have_text("₺50,00")
    assert "⟦" not in await page.inner_text("body")
    await assert_clean(console.watched)


async def test_sign_out_then_sign_in_again_and_a_wrong_password_is_told(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "eda@example.org")
    page = console.page
    await page.get_by_role("link", name="← All events").click()
    events = page.get_by_test_id("events")
    await expect(events.get_by_role("link", name="Sarajevo Jazz Night")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.reload()  # the session is gone on the server, not only in the page
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=BROWSER_WAIT_MS)

    await page.get_by_label("E-mail address").fill("eda@example.org")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    error = page.get_by_test_id("error")
    await expect(error).to_have_attribute("data-code", "bad_credentials", timeout=BROWSER_WAIT_MS)
    await expect(error).to_have_text("The e-mail address or the password is wrong.")

    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("link", name="Sarajevo Jazz Night")).to_be_visible(
        timeout=BROWSER_WAIT_MS
    )
    await page.get_by_role("link", name="Sarajevo Jazz Night").click()
    await expect(page.get_by_test_id("inside")).to_have_text("0", timeout=BROWSER_WAIT_MS)
    await assert_clean(console.watched)


async def test_a_turkish_organizer_signs_up_in_turkish(browser: Browser, hub_server: Any) -> None:
    watched = await open_page(browser, str(hub_server.make_url("")).rstrip("/"), locale="tr-TR")
    page = watched.page
    await page.goto("/organizer")
    await expect(page.get_by_role("heading", name="Oturum açın")).to_be_visible(
        timeout=BROWSER_WAIT_MS
    )
    await page.get_by_role("button", name="Yeni misiniz? Kaydolun").click()
    await page.get_by_label("Kuruluş adı").fill("Caz Kulübü")
    await page.get_by_label("E-posta adresi").fill("deniz@example.org")
    await page.get_by_label("Parola").fill("deniz@example.org")  # the address itself
    await page.get_by_role("button", name="Hesabı oluştur").click()
    await expect(page.get_by_test_id("error")).to_have_attribute("data-code", "weak_password")
    await page.get_by_label("Parola").fill(PASSWORD)
    await page.get_by_role("button", name="Hesabı oluştur").click()
    await expect(page.get_by_text("Henüz etkinlik yok")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("organization")).to_have_text("Caz Kulübü")
    assert "⟦" not in await page.inner_text("body")
    await assert_clean(watched, 400)


async def test_a_session_ended_elsewhere_brings_back_the_sign_in(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await expect(page.get_by_test_id("state")).to_have_attribute("data-state", "open")
    ended = await page.context.request.post(
        "/api/v1/auth/signout-everywhere", headers={"Origin": console.base_url}
    )
    assert ended.status == 200
    [socket] = [c for c in hub_server.app[HUB].connections if c.claims.sub.startswith("account-")]
    socket.transport.abort()  # the next connection asks for a token: the session is gone
    await expect(page.get_by_test_id("notice")).to_have_text(
        "Your session has ended: sign in again.", timeout=BROWSER_WAIT_MS
    )
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await assert_clean(console.watched)
