"""Buying on the attendee page, in Chromium: best available, the hold's live countdown,
confirming without payment, the new tickets in My tickets, and a hold that runs out.

docs/web.md §Attendee page, docs/allocation.md §Holds and §Confirming.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Browser, expect

from bilten.infra.settings import Settings
from tests.allocation.helpers import ok
from tests.web.attendee_helpers import SIGNED_OUT, assert_clean, bought, sign_in_on_page
from tests.web.conftest import BROWSER_WAIT_MS, Stack, open_page
from tests.web.test_accessibility import serious_violations

EMAIL = "amra@example.org"


async def test_holds_the_best_available_confirms_and_sees_the_hold_run_out(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL)
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, EMAIL)
    tickets = page.get_by_test_id("ticket")
    await expect(tickets).to_have_count(1, timeout=BROWSER_WAIT_MS)

    await expect(page.get_by_label("Ticket type")).to_contain_text(
        re.compile(r"Parter, BAM\s25\.00"), timeout=BROWSER_WAIT_MS
    )
    await expect(page.get_by_test_id("remaining")).to_have_text("49 left")
    await page.get_by_label("How many").fill("2")
    await page.get_by_role("button", name="Hold the best available").click()
    hold = page.get_by_test_id("hold")
    await expect(hold).to_contain_text(re.compile(r"Held for you: 2 for BAM\s50\.00\."))
    await expect(hold).to_contain_text("without payment")
    countdown = page.get_by_test_id("countdown")
    await expect(countdown).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))
    first = await countdown.inner_text()
    await expect(countdown).not_to_have_text(first, timeout=BROWSER_WAIT_MS)  # it runs
    assert await serious_violations(page) == []
    await page.get_by_label("Name on the tickets (optional)").fill("Amra H.")
    await page.get_by_role("button", name="Confirm the order").click()
    await expect(page.get_by_test_id("order")).to_contain_text(
        re.compile(r"Order \d+ confirmed: 2 tickets"), timeout=BROWSER_WAIT_MS
    )
    await expect(tickets).to_have_count(3, timeout=BROWSER_WAIT_MS)
    await expect(tickets.filter(has_text="Holder: Amra H.")).to_have_count(2)
    await page.get_by_role("button", name="Buy more").click()
    await expect(page.get_by_test_id("remaining")).to_have_text("47 left")

    # A short hold: the countdown reaches its end and the places go back on sale.
    ok(
        await stack.organizer.call(
            "seats.configure", {"event_id": stack.event_id, "hold_ttl_s": 10}
        )
    )
    await page.get_by_label("How many").fill("1")
    await page.get_by_role("button", name="Hold the best available").click()
    await expect(countdown).to_have_text(re.compile(r"^0:(10|0\d)$"), timeout=BROWSER_WAIT_MS)
    # The hub's warning comes halfway through a hold this short (docs/allocation.md §Expiry).
    await expect(page.get_by_test_id("expiring")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("hold-status")).to_have_text(
        "This hold has expired and the places are back on sale.", timeout=BROWSER_WAIT_MS
    )
    await expect(countdown).to_have_text("0:00")
    await expect(page.get_by_role("button", name="Confirm the order")).to_have_count(0)
    await page.get_by_role("button", name="Buy more").click()
    remaining = page.get_by_test_id("remaining")
    await expect(remaining).to_have_text("47 left", timeout=BROWSER_WAIT_MS)
    # Someone else's hold shows at once: availability is live.
    types = ok(await stack.organizer.call("tickettypes.list", {"event_id": stack.event_id}))
    ok(
        await stack.organizer.call(
            "seats.hold",
            {
                "event_id": stack.event_id,
                "ticket_type_id": types["ticket_types"][0]["id"],
                "quantity": 5,
            },
        )
    )
    await expect(remaining).to_have_text("42 left", timeout=BROWSER_WAIT_MS)
    await assert_clean(watched, SIGNED_OUT)


async def seat_pixel(page: Any, index: int, dx: int, dy: int) -> list[int]:
    """The canvas colour inside seat `index` of the first row (RGB)."""
    x, y = 40 + index * 16 + dx, 22 + dy  # seatmap.js LABEL, CELL and HEADER
    found: list[int] = await page.evaluate(
        """([x, y]) => [...document.querySelector('[data-testid=seat-canvas]')
             .getContext('2d').getImageData(x, y, 1, 1).data].slice(0, 3)""",
        [x, y],
    )
    return found


async def test_picks_seats_on_the_live_map_by_keyboard_and_click(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL)
    organizer = stack.organizer
    loza = ok(
        await organizer.call(
            "tickettypes.create",
            {"event_id": stack.event_id, "name": "Loža", "price_minor": 4000},
        )
    )
    sections = [
        {
            "name": "Balkon",
            "ticket_type_id": loza["id"],
            "rows": [{"name": "1", "seats": 4}, {"name": "2", "seats": ["2a", "2b"]}],
        }
    ]
    ok(await organizer.call("seats.create", {"event_id": stack.event_id, "sections": sections}))
    seat_map = ok(await organizer.call("seats.map", {"event_id": stack.event_id}))
    first_id = seat_map["sections"][0]["rows"][0]["ids"][0][0]

    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, EMAIL)
    await page.get_by_label("Choose seats on the map").check(timeout=BROWSER_WAIT_MS)
    canvas = page.get_by_test_id("seat-canvas")
    await expect(canvas).to_be_visible(timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_role("combobox", name=re.compile("^Row"))).to_have_value("0")
    await page.get_by_label("Seat 2 (free)").check()
    await canvas.click(position={"x": 40 + 2 * 16 + 6, "y": 22 + 6})  # seat 3
    picked = page.get_by_test_id("picked")
    await expect(picked).to_have_text(
        "Picked: Balkon, row 1, seat 2, Balkon, row 1, seat 3", timeout=BROWSER_WAIT_MS
    )
    assert await seat_pixel(page, 2, 1, 1) == [26, 86, 219]  # picked: filled

    # Someone else holds seat 1: the map and its checkbox follow live.
    ok(await organizer.call("seats.hold", {"event_id": stack.event_id, "seat_ids": [first_id]}))
    await expect(page.get_by_label("Seat 1 (held)")).to_be_disabled(timeout=BROWSER_WAIT_MS)
    assert await seat_pixel(page, 0, 3, 3) == [243, 226, 179]  # held: hatched
    await page.get_by_role("combobox", name=re.compile("^Row")).select_option(label="Balkon, row 2")
    await expect(page.get_by_label("Seat 2a (free)")).to_be_enabled()
    assert await serious_violations(page) == []

    await page.get_by_test_id("language").select_option("tr")
    await expect(page.get_by_text("Bu sıradaki koltuklar")).to_be_visible()
    assert "⟦" not in await page.inner_text("body")
    await page.get_by_test_id("language").select_option("en")
    await page.get_by_role("button", name="Hold these seats").click()
    await expect(page.get_by_test_id("hold")).to_contain_text(
        re.compile(r"Held for you: 2 for BAM\s80\.00\."), timeout=BROWSER_WAIT_MS
    )
    await expect(page.get_by_test_id("held-seats")).to_have_text(
        "Seats: Balkon, row 1, seat 2; Balkon, row 1, seat 3", timeout=BROWSER_WAIT_MS
    )
    await page.get_by_role("button", name="Confirm the order").click()
    await expect(page.get_by_test_id("ticket")).to_have_count(3, timeout=BROWSER_WAIT_MS)
    await page.get_by_role("button", name="Buy more").click()
    await page.get_by_label("Choose seats on the map").check()
    await expect(page.get_by_label("Seat 3 (sold)")).to_be_disabled(timeout=BROWSER_WAIT_MS)
    await assert_clean(watched, SIGNED_OUT)


async def test_joins_the_waiting_list_and_takes_the_offered_hold(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL)
    organizer = stack.organizer
    small = ok(
        await organizer.call(
            "tickettypes.create",
            {"event_id": stack.event_id, "name": "Mali", "price_minor": 1000, "quota": 2},
        )
    )
    taken = ok(
        await organizer.call(
            "seats.hold",
            {"event_id": stack.event_id, "ticket_type_id": small["id"], "quantity": 2},
        )
    )

    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, EMAIL)
    await page.get_by_label("Ticket type").select_option(str(small["id"]), timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("remaining")).to_have_text("0 left", timeout=BROWSER_WAIT_MS)
    await page.get_by_role("button", name="Hold the best available").click()
    await expect(page.get_by_test_id("buy-status")).to_have_text(
        "Not enough left: 0 available.", timeout=BROWSER_WAIT_MS
    )
    await page.get_by_role("button", name="Join the waiting list").click()
    await expect(page.get_by_test_id("waiting")).to_contain_text(
        "You are number 1 on the waiting list.", timeout=BROWSER_WAIT_MS
    )
    assert await serious_violations(page) == []

    ok(await organizer.call("seats.release", {"hold_id": taken["hold_id"]}))
    await expect(page.get_by_test_id("offered")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await expect(page.get_by_test_id("hold")).to_contain_text(
        re.compile(r"Held for you: 1 for BAM\s10\.00\.")
    )
    await page.get_by_role("button", name="Confirm the order").click()
    await expect(page.get_by_test_id("ticket")).to_have_count(2, timeout=BROWSER_WAIT_MS)
    await assert_clean(watched, SIGNED_OUT)
