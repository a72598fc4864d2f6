"""Screenshots of each app's pages at phone and laptop size, for docs/screenshots/.

    .venv/bin/python -m tests.web.screenshots

runs `test_take_the_screenshots` under pytest, so the hub and workers start
exactly as for the browser tests (tests/conftest.py: NATS, PostgreSQL and Redis
on free ports, or the `BILTEN_TEST_*` URLs), and walks the evening of
tests/web/journey.py, stopping to take each picture. The file's name keeps it out
of the test suite's collection. docs/screenshots/README.md lists the pictures.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page

from bilten.infra.settings import Settings
from tests.hub.helpers import connect
from tests.web.attendee_helpers import sign_in_by_link
from tests.web.conftest import open_page
from tests.web.door_helpers import scan
from tests.web.journey import (
    EMAIL,
    confirm_the_hold,
    expect,
    hold_two_seats,
    pair_the_door,
    pairing_code,
    prepare_the_event,
    vote,
)
from tests.web.organizer import open_console

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZES = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}


def recompress(png: bytes) -> bytes:
    """The same PNG with its image data deflated at zlib's best level (Chromium's is fast)."""
    chunks, at, data = [], 8, b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IDAT":
            data += body
        elif kind == b"IEND":
            chunks.append((b"IDAT", zlib.compress(zlib.decompress(data), 9)))
            chunks.append((kind, body))
        else:
            chunks.append((kind, body))
    out = [png[:8]]
    for kind, body in chunks:
        crc = zlib.crc32(kind + body)
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc))
    return b"".join(out)


async def shoot(page: Page, name: str, top: Locator | None = None) -> None:
    """`name`-phone.png and `name`-laptop.png of what the page shows from `top` down
    (else from its start), then back to laptop size."""
    for size, viewport in SIZES.items():
        await page.set_viewport_size(viewport)
        if top is not None:
            await top.evaluate("(element) => element.scrollIntoView({ block: 'start' })")
        png = await page.screenshot(type="png", animations="disabled")
        (SHOTS / f"{name}-{size}.png").write_bytes(recompress(png))
    await page.set_viewport_size(SIZES["laptop"])


async def test_take_the_screenshots(
    browser: Browser, workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    SHOTS.mkdir(exist_ok=True)
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    organizer = console.page
    await prepare_the_event(organizer)
    await organizer.get_by_role("link", name="Seat map").click()
    await expect(organizer.get_by_test_id("seat-counts")).to_be_visible()

    attendee = (await open_page(browser, console.base_url)).page
    await sign_in_by_link(attendee, workers, console.event_id, EMAIL)
    await hold_two_seats(attendee)
    await shoot(attendee, "attendee-hold", attendee.get_by_role("heading", name="Buy tickets"))
    first, second = await confirm_the_hold(attendee)
    await vote(attendee)
    await shoot(attendee, "attendee-tickets", attendee.get_by_role("heading", name="My tickets"))

    # A few more in the room: votes and a sale the seat map shows.
    polls = await console.call("polls.list", {"event_id": console.event_id})
    client = await aiohttp_client(hub_server)
    for n, choice in enumerate([0, 1, 0, 0]):
        events = [console.event_id]
        voter = await connect(
            client, make_token("attendee", org=console.org, sub=f"v{n}", events=events)
        )
        reply = await voter.call(
            "polls.vote", {"poll_id": polls["polls"][0]["id"], "choice": choice}
        )
        assert reply["op"] == "result", reply
    await organizer.get_by_role("link", name="Seat map").click()
    await expect(organizer.get_by_test_id("seat-counts").locator("li")).to_have_text(
        ["Available: 6", "Held: 0", "Sold: 2"]
    )
    await shoot(organizer, "organizer-seatmap", organizer.get_by_test_id("event-name"))

    door = (await open_page(browser, console.base_url)).page
    await pair_the_door(door, await pairing_code(organizer))
    await scan(door, first)
    await expect(door.get_by_test_id("verdict")).to_have_attribute("data-status", "ok")
    await shoot(door, "door-admitted")
    await scan(door, first)
    await expect(door.get_by_test_id("verdict")).to_have_attribute("data-status", "rejected")
    await shoot(door, "door-refused")
    await door.context.set_offline(True)
    await expect(door.get_by_test_id("connection")).to_have_attribute("data-online", "false")
    await scan(door, first)
    await scan(door, second)
    await door.get_by_role("button", name="Next").click()
    await expect(door.get_by_test_id("queued")).to_have_text("Waiting to sync: 2")
    await shoot(door, "door-offline", door.get_by_test_id("verdict"))

    await organizer.get_by_role("link", name="Dashboard").click()
    await expect(organizer.get_by_test_id("inside")).to_have_text("1")
    await shoot(organizer, "organizer-dashboard", organizer.get_by_test_id("event-name"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
