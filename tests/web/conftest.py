"""Browser tests: Playwright driving Debian's Chromium against a live hub with workers.

The browser is the machine's own (`apt-get install chromium`), launched by
path; Playwright never downloads one. Without Chromium these tests skip and
say why (docs/web.md §Tests).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from bilten.hub.runtime import HUB
from tests.hub.helpers import Raw, connect, create_event

# Set before any page script runs: every Content-Security-Policy violation is kept.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""
BROWSER_WAIT_MS = 60_000  # a hang's bound, as tests/waiting.py WAIT_S
# Every `expect` in these tests waits on live servers on a machine that may be busy:
# the same generous bound as every other wait, not Playwright's 5 s.
expect.set_options(timeout=BROWSER_WAIT_MS)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium from the machine's packages, or a skip naming what is missing."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` runs these tests")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Watched:
    """A page, with what went wrong in it: console errors, uncaught exceptions, CSP reports."""

    page: Page
    errors: list[str] = field(default_factory=list)

    async def violations(self) -> list[str]:
        found: list[str] = await self.page.evaluate("window.__violations")
        return found

    async def assert_clean(self) -> None:
        assert await self.violations() == []
        assert self.errors == []


async def open_page(
    browser: Browser, base_url: str, locale: str = "en-US", timezone_id: str | None = None
) -> Watched:
    """A fresh context and page in `locale` (and the browser's clock in `timezone_id`),
    watched for errors and CSP violations."""
    context = await browser.new_context(base_url=base_url, locale=locale, timezone_id=timezone_id)
    context.set_default_timeout(BROWSER_WAIT_MS)
    page = await context.new_page()
    await page.add_init_script(WATCH_VIOLATIONS)
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched


@dataclass(frozen=True)
class Stack:
    """A live hub on a real port, an organizer's raw socket to it, and one event."""

    server: Any
    organizer: Raw
    event_id: int

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def publish(self, channel: str, data: Any) -> int:
        reply = await self.organizer.call("channels.publish", {"channel": channel, "data": data})
        assert reply["op"] == "result", reply
        return int(reply["result"]["offset"])

    def connections_of(self, sub: str) -> list[Any]:
        return [c for c in self.server.app[HUB].connections if c.claims.sub == sub]


@pytest.fixture
async def stack(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> AsyncIterator[Stack]:
    """The live hub for one test. Its pages and the organizer's socket are closed first,
    so the hub's goodbye finds every client gone instead of waiting out each linger."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    yield Stack(hub_server, organizer, await create_event(organizer))
    for context in browser.contexts:
        await context.close()
    await organizer.ws.close()
