"""The door app without a network: it loads from its service worker, decides
from the check-in bundle, queues in IndexedDB and syncs when back, showing the
conflicts the sync found. docs/web.md §Door, docs/checkin.md §Sync & conflicts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Browser, expect

from tests.web.conftest import BROWSER_WAIT_MS, open_page
from tests.web.door_helpers import HOLDER, door_event, pair_at_gate, scan, spoiled

# Resolves once the door's service worker controls the page.
CONTROLLED = """() => new Promise((resolve) => navigator.serviceWorker.controller
  ? resolve() : navigator.serviceWorker.addEventListener("controllerchange", resolve))"""


async def test_decides_offline_queues_and_reports_conflicts_after_sync(
    browser: Browser, hub_server: Any, aiohttp_client: Any
) -> None:
    door = await door_event(await aiohttp_client(hub_server))
    watched = await open_page(browser, door.base_url)
    page = watched.page
    await pair_at_gate(page, door)
    connection = page.get_by_test_id("connection")
    await expect(connection).to_have_attribute("data-online", "true")

    await page.context.set_offline(True)
    await expect(connection).to_have_attribute("data-online", "false")
    await expect(connection).to_contain_text("Offline: deciding from the ticket list of")
    await scan(page, door.codes[0])
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Admitted")
    await expect(page.get_by_test_id("verdict-offline")).to_have_text("Decided offline")
    # Offline, the bundle's initials are all the door knows of the holder.
    await expect(page.get_by_test_id("verdict-holder")).to_have_text("A.H.")
    await expect(page.get_by_test_id("inside")).to_have_text("1")
    await scan(page, door.codes[0])
    await expect(page.get_by_test_id("verdict-reason")).to_have_text("Already inside.")
    await expect(page.get_by_test_id("verdict-offline")).to_be_visible()
    await scan(page, spoiled(door.codes[0]))
    await expect(page.get_by_test_id("verdict-reason")).to_have_text(
        "Not a ticket of ours: the code is not valid."
    )
    # Meanwhile another door, online, lets ticket 2 in; this door cannot know.
    await door.scan_elsewhere(door.codes[1])
    await scan(page, door.codes[1])
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Admitted")
    queued = page.get_by_test_id("queued")
    await expect(queued).to_have_text("Waiting to sync: 4")
    await expect(page.get_by_role("button", name="Unpair this device")).to_be_disabled()

    await page.context.set_offline(False)
    await expect(queued).to_have_text("Waiting to sync: 0", timeout=BROWSER_WAIT_MS)
    await expect(connection).to_have_attribute("data-online", "true")
    conflicts = page.get_by_test_id("conflicts").locator("li")
    await expect(conflicts).to_have_count(1)
    await expect(conflicts).to_contain_text(HOLDER)
    await expect(conflicts).to_contain_text("Already inside.")
    await expect(page.get_by_role("heading", name="Conflicts (1)")).to_be_visible()
    await expect(page.get_by_test_id("inside")).to_have_text("2")
    # The hub holds what the door decided: its offline entry stands.
    scans = await door.owner.call(
        "checkin.list", bearer=door.bearer, origin=None, event_id=door.event_id
    )
    mine = [s for s in scans["scans"] if s["offline"]]
    assert [(s["status"], s["reason"]) for s in mine] == [
        ("ok", None),
        ("rejected", "already_inside"),
        ("rejected", "invalid"),
        ("conflict", "already_inside"),
    ]
    await watched.assert_clean()


async def test_installs_and_opens_without_a_network(
    browser: Browser, hub_server: Any, aiohttp_client: Any
) -> None:
    door = await door_event(await aiohttp_client(hub_server))
    watched = await open_page(browser, door.base_url)
    page = watched.page
    await pair_at_gate(page, door)
    manifest = await page.locator("link[rel=manifest]").get_attribute("href")
    assert manifest is not None
    response = await page.request.get(manifest)
    assert response.headers["content-type"] == "application/manifest+json; charset=utf-8"
    assert (await response.json())["start_url"] == "/door"
    await asyncio.wait_for(page.evaluate(CONTROLLED), BROWSER_WAIT_MS / 1000)

    await page.context.set_offline(True)
    await page.reload()
    connection = page.get_by_test_id("connection")
    await expect(connection).to_contain_text("Offline", timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_label("Gate")).to_have_value("north")
    await scan(page, door.codes[2])
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Admitted")
    await expect(page.get_by_test_id("verdict-offline")).to_be_visible()
    await expect(page.get_by_test_id("queued")).to_have_text("Waiting to sync: 1")

    await page.context.set_offline(False)
    queued = page.get_by_test_id("queued")
    await expect(queued).to_have_text("Waiting to sync: 0", timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("inside")).to_have_text("1")
    # The browser reports each connection attempt it refused while offline; nothing else failed.
    assert all("net::ERR_INTERNET_DISCONNECTED" in error for error in watched.errors)
    assert await watched.violations() == []
