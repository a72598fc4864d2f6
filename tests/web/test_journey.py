"""One evening across the three apps, as issue 14 tells it, in one Chromium with a
context each for the organizer, the attendee and the door.

Everything goes through the pages, except what another client does on purpose: a
scan at another gate (the organizer's box office socket) while the door is offline,
which both moves the dashboard and becomes the door's conflict once it syncs.
docs/web.md §Organizer console, §Attendee page, §Door.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser

from bilten.infra.settings import Settings
from tests.waiting import WAIT_S
from tests.web.attendee_helpers import OFFLINE, SIGNED_OUT, assert_clean, sign_in_by_link
from tests.web.conftest import open_page
from tests.web.door_helpers import scan
from tests.web.journey import (
    EMAIL,
    HOLDER,
    confirm_the_hold,
    expect,
    hold_two_seats,
    pair_the_door,
    pairing_code,
    prepare_the_event,
    scan_twice,
    speaks_turkish_and_english,
    vote,
)
from tests.web.organizer import Console, open_console
from tests.web.organizer import assert_clean as assert_console_clean


@pytest.mark.timeout(10 * WAIT_S)  # a whole evening, page after page, each step waited for
async def test_an_evening_from_sign_up_to_the_door(
    browser: Browser, workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console: Console = await open_console(
        browser, hub_server, aiohttp_client, make_token, "ana@example.org"
    )
    organizer = console.page
    await prepare_the_event(organizer)

    attendee_tab = await open_page(browser, console.base_url)
    attendee = attendee_tab.page
    await sign_in_by_link(attendee, workers, console.event_id, EMAIL)
    await hold_two_seats(attendee)
    first, second = await confirm_the_hold(attendee)
    await vote(attendee)
    await organizer.get_by_role("link", name="Polls").click()
    await expect(organizer.get_by_test_id("bar-value")).to_have_text(["0 (0%)", "1 (100%)"])
    await expect(organizer.get_by_test_id("voters")).to_have_text("Voters: 1.")

    code = await pairing_code(organizer)
    door_tab = await open_page(browser, console.base_url)
    door = door_tab.page
    await pair_the_door(door, code)
    await scan_twice(door, first)

    await organizer.get_by_role("link", name="Dashboard").click()
    inside = organizer.get_by_test_id("inside")
    summary = organizer.get_by_test_id("scans-summary")
    await expect(inside).to_have_text("1")
    await expect(summary).to_contain_text("Scans in the last hour: 2;")

    # The door loses its network; meanwhile the second ticket comes in at the south gate.
    await door.context.set_offline(True)
    await expect(door.get_by_test_id("connection")).to_have_attribute("data-online", "false")
    await console.call(
        "checkin.scan", {"event_id": console.event_id, "code": second, "gate": "south"}
    )
    await expect(inside).to_have_text("2")
    await expect(summary).to_contain_text("Scans in the last hour: 3;")
    await expect(organizer.get_by_test_id("scans-chart")).to_have_attribute(
        "aria-label", re.compile("Scans in the last hour: 3;")
    )
    verdict = door.get_by_test_id("verdict")
    await scan(door, second)
    await expect(verdict).to_have_attribute("data-status", "ok")
    await expect(door.get_by_test_id("verdict-offline")).to_have_text("Decided offline")
    await scan(door, first)
    await expect(verdict).to_have_attribute("data-status", "rejected")
    await expect(door.get_by_test_id("queued")).to_have_text("Waiting to sync: 2")

    await door.context.set_offline(False)
    await expect(door.get_by_test_id("queued")).to_have_text("Waiting to sync: 0")
    conflicts = door.get_by_test_id("conflicts").locator("li")
    await expect(conflicts).to_have_count(1)
    await expect(conflicts).to_contain_text(HOLDER)
    await expect(conflicts).to_contain_text("Already inside.")
    await expect(inside).to_have_text("2")

    await speaks_turkish_and_english(organizer, "link", "Pano", "Dashboard")
    await speaks_turkish_and_english(attendee, "heading", "Biletlerim", "My tickets")
    await speaks_turkish_and_english(door, "combobox", "Kapı", "Gate")
    await assert_console_clean(console.watched)
    await assert_clean(attendee_tab, SIGNED_OUT)
    await assert_clean(door_tab, OFFLINE)
