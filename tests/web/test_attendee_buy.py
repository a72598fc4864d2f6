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
