"""The door's camera in Chromium: a ticket's QR code in front of it is scanned.

docs/web.md §Door. Chromium's fake camera plays a Y4M file; the test writes
one whose frames show a real ticket's QR code. Chromium on Linux has no
BarcodeDetector, so this exercises the vendored jsQR decoder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import segno
from playwright.async_api import async_playwright, expect

from tests.web.conftest import BROWSER_WAIT_MS, WATCH_VIOLATIONS
from tests.web.door_helpers import HOLDER, door_event, pair_at_gate

SIZE = 480  # pixels a side
SCALE = 8  # pixels a QR module


def qr_video(text: str, path: Path, frames: int = 5) -> Path:
    """A Y4M video (4:2:0) of `text`'s QR code, black on white, centred."""
    rows = [list(row) for row in segno.make(text, error="m", micro=False).matrix_iter(border=4)]
    offset = (SIZE - len(rows) * SCALE) // 2
    luma = bytearray([235]) * (SIZE * SIZE)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(SCALE):
                    start = (offset + y * SCALE + dy) * SIZE + offset + x * SCALE
                    luma[start : start + SCALE] = bytes([16]) * SCALE
    chroma = bytes([128]) * (SIZE * SIZE // 2)
    frame = b"FRAME\n" + bytes(luma) + chroma
    header = f"YUV4MPEG2 W{SIZE} H{SIZE} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * frames)
    return path


async def test_a_ticket_shown_to_the_camera_is_admitted(
    hub_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` runs these tests")
    door = await door_event(await aiohttp_client(hub_server))
    video = qr_video(door.codes[0], tmp_path / "ticket.y4m")
    camera = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=camera)
        try:
            context = await browser.new_context(base_url=door.base_url, locale="en-US")
            context.set_default_timeout(BROWSER_WAIT_MS)
            page = await context.new_page()
            await page.add_init_script(WATCH_VIOLATIONS)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await pair_at_gate(page, door)
            assert not await page.evaluate("'BarcodeDetector' in window")  # so jsQR decodes
            await page.get_by_role("button", name="Scan with the camera").click()
            await expect(page.get_by_label("Camera view")).to_be_visible()
            title = page.get_by_test_id("verdict-title")
            await expect(title).to_have_text("Admitted", timeout=BROWSER_WAIT_MS)
            await expect(page.get_by_test_id("verdict-holder")).to_have_text(HOLDER)
            # The code stays in view: it counts once, not again each frame.
            await expect(page.get_by_test_id("inside")).to_have_text("1")
            await page.get_by_role("button", name="Scan with the camera").click()
            await expect(page.get_by_label("Camera view")).to_have_count(0)
            assert await page.get_by_test_id("verdict").get_attribute("data-count") == "1"
            assert errors == []
            assert await page.evaluate("window.__violations") == []
        finally:
            await browser.close()
