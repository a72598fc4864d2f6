"""The steps of one evening through the three apps' pages, shared by the journey test
(tests/web/test_journey.py) and the screenshots (tests/web/screenshots.py).

docs/web.md §Organizer console, §Attendee page, §Door.
"""

from __future__ import annotations

import re
from typing import Literal

from playwright.async_api import Page, expect

from tests.web.door_helpers import scan
from tests.web.organizer import add_session, open_new_poll

Role = Literal["link", "heading", "combobox"]
EMAIL = "amra@example.org"
HOLDER = "Amra Hadžić"


async def prepare_the_event(page: Page) -> None:
    """Ticket type, gates, a seat map and an open poll, each from its view of the console."""
    await page.get_by_role("link", name="Setup").click()
    await page.get_by_label("Name", exact=True).fill("Parter")
    await page.get_by_label("Price (TRY)").fill("250")
    await page.get_by_role("button", name="Add the ticket type").click()
    await expect(page.get_by_test_id("ticket-types").locator("tbody tr")).to_have_count(1)
    await page.get_by_label("Gate names, separated by commas").fill("north, south")
    await page.get_by_role("button", name="Save the gates").click()
    await expect(page.get_by_test_id("gates-saved")).to_have_text("Saved: 2 gates.")

    await page.get_by_role("link", name="Seat map").click()
    await page.get_by_label("Section name").fill("Parter")
    await page.get_by_role("combobox", name="Sold as").select_option(label="Parter")
    await page.get_by_role("spinbutton", name="Rows").fill("2")
    await page.get_by_role("spinbutton", name="Seats per row").fill("4")
    await page.get_by_role("button", name="Add the section").click()
    await expect(page.get_by_test_id("section-added")).to_have_text("Added 8 seats.")
    await expect(
        page.get_by_role("img", name="Seat map of 8 seats, coloured by state")
    ).to_be_visible()

    await add_session(page, "Opening set")
    await open_new_poll(page, "Best tune?", "Take Five\nSo What")


async def pairing_code(page: Page) -> str:
    """A pairing code for the door, as the console shows it."""
    await page.get_by_role("link", name="Door devices").click()
    await page.get_by_label("Device name (e.g. North door)").fill("North door")
    await page.get_by_role("button", name="Create a pairing code").click()
    code = page.get_by_test_id("pairing-code")
    await expect(code).to_have_text(re.compile(r"^[2-9A-Z]{12}$"))
    return await code.inner_text()


async def hold_two_seats(page: Page) -> None:
    """Hold the two best seats and watch the hold's countdown run."""
    await expect(page.get_by_label("Ticket type")).to_contain_text("Parter")
    await expect(page.get_by_test_id("remaining")).to_have_text("8 left")
    await page.get_by_label("How many").fill("2")
    await page.get_by_role("button", name="Hold the best available").click()
    await expect(page.get_by_test_id("held-seats")).to_have_text(
        "Seats: Parter, row 1, seat 1; Parter, row 1, seat 2"
    )
    countdown = page.get_by_test_id("countdown")
    await expect(countdown).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))
    await expect(countdown).not_to_have_text(await countdown.inner_text())  # it runs


async def confirm_the_hold(page: Page) -> list[str]:
    """Confirm the hold on screen; the codes its tickets' QR codes carry."""
    await page.get_by_label("Name on the tickets (optional)").fill(HOLDER)
    await page.get_by_role("button", name="Confirm the order").click()
    await expect(page.get_by_test_id("order")).to_contain_text(
        re.compile(r"Order \d+ confirmed: 2 tickets")
    )
    tickets = page.get_by_test_id("ticket")
    await expect(tickets).to_have_count(2)
    qr_codes = page.get_by_role("img", name=f"QR code of the ticket of {HOLDER}")
    await expect(qr_codes).to_have_count(2)
    return [str(await ticket.get_attribute("data-code")) for ticket in await tickets.all()]


async def vote(page: Page) -> None:
    poll = page.locator("[data-poll]").filter(has_text="Best tune?")
    await poll.get_by_label("So What").check()
    await poll.get_by_role("button", name="Vote").click()
    await expect(poll.get_by_test_id("voted")).to_have_text("Your vote is counted.")


async def pair_the_door(page: Page, code: str) -> None:
    await page.goto("/door")
    await page.get_by_label("Pairing code").fill(code)
    await page.get_by_role("button", name="Pair").click()
    await page.get_by_label("Gate").select_option("north")
    await expect(page.get_by_test_id("bundle")).to_be_visible()
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-online", "true")


async def scan_twice(page: Page, code: str) -> None:
    """The same code at the door twice: green, then red."""
    verdict = page.get_by_test_id("verdict")
    await scan(page, code)
    await expect(verdict).to_have_attribute("data-status", "ok")
    await expect(page.get_by_test_id("verdict-title")).to_have_text("Admitted")
    await scan(page, code)
    await expect(verdict).to_have_attribute("data-status", "rejected")
    await expect(page.get_by_test_id("verdict-reason")).to_have_text("Already inside.")


async def speaks_turkish_and_english(page: Page, role: Role, turkish: str, english: str) -> None:
    """Each language renders the page with every string found in its catalogue."""
    for language, name in (("tr", turkish), ("en", english)):
        await page.get_by_test_id("language").select_option(language)
        await expect(page.get_by_role(role, name=name, exact=True)).to_be_visible()
        assert "⟦" not in await page.inner_text("body")
