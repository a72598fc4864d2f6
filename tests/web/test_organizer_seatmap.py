"""The seat map of a 50,000-seat stadium in the organizer console: one canvas,
coloured by state, live as seats are held and sold, each seat readable from the
keyboard.

docs/web.md §Organizer console.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.hub.helpers import connect
from tests.waiting import WAIT_S, allowance
from tests.web.conftest import BROWSER_WAIT_MS
from tests.web.organizer import assert_clean, open_console
from tests.web.test_accessibility import serious_violations

STADIUM_COMMAND = allowance(50_000, per_operation=0.002)


@pytest.mark.request_timeout(STADIUM_COMMAND)
@pytest.mark.timeout(STADIUM_COMMAND + 4 * WAIT_S)
async def test_a_stadium_is_one_canvas_coloured_live_and_readable_from_the_keyboard(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    box_office = await connect(
        await aiohttp_client(hub_server),
        make_token("organizer", org=console.org, sub="stadium"),
        patience=2 * STADIUM_COMMAND,
    )
    parter = await console.call(
        "tickettypes.create", {"event_id": event_id, "name": "Parter", "price_minor": 5000}
    )
    sections = [
        {
            "name": f"S{s:02d}",
            "ticket_type_id": parter["id"],
            "rows": [{"name": str(r), "seats": 50} for r in range(1, 41)],
        }
        for s in range(25)
    ]
    created = await box_office.call("seats.create", {"event_id": event_id, "sections": sections})
    assert created.get("result", {}).get("seats") == 50_000, created
    plan = (await box_office.call("seats.map", {"event_id": event_id}))["result"]["sections"]
    first = plan[0]["rows"][0]["ids"][0][0]
    sold = await console.call("seats.hold", {"event_id": event_id, "seat_ids": [first, first + 1]})
    await console.call("seats.confirm", {"hold_id": sold["hold_id"]})
    await console.call("seats.hold", {"event_id": event_id, "seat_ids": [first + 2]})

    await page.get_by_role("link", name="Seat map").click()
    counts = page.get_by_test_id("seat-counts").locator("li")
    await expect(counts).to_have_text(
        ["Available: 49,997", "Held: 1", "Sold: 2"], timeout=BROWSER_WAIT_MS
    )
    canvas = page.get_by_role("img", name="Seat map of 50,000 seats, coloured by state")
    await expect(canvas).to_have_count(1)
    assert await page.evaluate("document.getElementsByTagName('*').length") < 500

    cursor = page.get_by_test_id("seat-cursor")
    await canvas.focus()
    await page.keyboard.press("Home")
    await expect(cursor).to_have_text("Section S00, row 1, seat 1: Sold")
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    await expect(cursor).to_have_text("Section S00, row 1, seat 3: Held")
    await page.keyboard.press("ArrowDown")
    await expect(cursor).to_have_text("Section S00, row 2, seat 3: Available")
    await page.keyboard.press("End")
    await expect(cursor).to_have_text("Section S24, row 40, seat 50: Available")

    # Live: a hold elsewhere recolours its seat, and the seat under the cursor is told anew.
    last = plan[24]["rows"][39]["ids"][0][0] + 49
    await console.call("seats.hold", {"event_id": event_id, "seat_ids": [last]})
    await expect(cursor).to_have_text("Section S24, row 40, seat 50: Held", timeout=BROWSER_WAIT_MS)
    await expect(counts).to_have_text(["Available: 49,996", "Held: 2", "Sold: 2"])
    assert await serious_violations(page) == []
    await assert_clean(console.watched)


async def test_a_section_added_from_the_form_appears_on_the_live_map(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    await console.call(
        "tickettypes.create", {"event_id": event_id, "name": "Parter", "price_minor": 5000}
    )
    await page.get_by_role("link", name="Seat map").click()
    await expect(page.get_by_text("This event has no seat map.")).to_be_visible(
        timeout=BROWSER_WAIT_MS
    )
    await page.get_by_label("Section name").fill("Parter")
    await page.get_by_role("combobox", name="Sold as").select_option(label="Parter")
    await page.get_by_role("spinbutton", name="Rows").fill("3")
    await page.get_by_role("spinbutton", name="Seats per row").fill("4")
    await expect(page.get_by_role("img", name="Preview: 3 rows, 12 seats")).to_be_visible()
    await page.get_by_role("button", name="Add the section").click()
    await expect(page.get_by_test_id("section-added")).to_have_text("Added 12 seats.")

    # The seats channel says the map changed: the map view loads it again by itself.
    await expect(
        page.get_by_role("img", name="Seat map of 12 seats, coloured by state")
    ).to_be_visible(timeout=BROWSER_WAIT_MS)
    counts = page.get_by_test_id("seat-counts").locator("li")
    await expect(counts).to_have_text(["Available: 12", "Held: 0", "Sold: 0"])
    plan = await console.call("seats.map", {"event_id": event_id})
    rows = plan["sections"][0]["rows"]
    assert [(r["name"], r["ids"][0][1]) for r in rows] == [("1", 4), ("2", 4), ("3", 4)]
    assert plan["sections"][0]["rows"][0]["types"][0][1] == 4
    await assert_clean(console.watched)
