"""An organization with an event at the door, for the door app's browser tests.

The organizer works through the real API (tests/accounts/helpers.Browser): sign
up, create the event with gates and tickets, mint pairing codes
(docs/accounts.md §Door devices) and scan at other doors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.async_api import Page, expect

from tests.accounts.helpers import Browser
from tests.hub.helpers import EVENT
from tests.web.conftest import BROWSER_WAIT_MS

HOLDER = "Amra Hadžić"
# Set before any page script runs: each vibration and each tone the page starts is kept.
WATCH_SIGNALS = """
window.__vibrations = [];
navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };
window.__tones = [];
const createOscillator = BaseAudioContext.prototype.createOscillator;
BaseAudioContext.prototype.createOscillator = function () {
  const oscillator = createOscillator.call(this);
  const start = oscillator.start.bind(oscillator);
  oscillator.start = (when) => { window.__tones.push(oscillator.frequency.value); start(when); };
  return oscillator;
};
"""


@dataclass
class DoorEvent:
    """An owner's session, their organization and an event with gates and tickets."""

    owner: Browser
    org: str
    event_id: int
    codes: list[str]
    bearer: str

    @property
    def base_url(self) -> str:
        return self.owner.origin

    async def pairing_code(self, gates: list[str] | None = None) -> str:
        """A fresh one-time pairing code for this event."""
        extra = {} if gates is None else {"gates": gates}
        pairing = await self.owner.call(
            "orgs.devices.pair", org=self.org, event_id=self.event_id, name="North door", **extra
        )
        return str(pairing["code"])

    async def sync_elsewhere(self, code: str, scanned_at: str) -> dict[str, Any]:
        """Another door's offline admission, synced through REST with the organizer's token."""
        scan = {"code": code, "gate": "south", "scanned_at": scanned_at}
        scan |= {"nonce": "elsewhere:000001", "verdict": "ok"}
        reply: dict[str, Any] = await self.owner.call(
            "checkin.sync",
            bearer=self.bearer,
            origin=None,
            event_id=self.event_id,
            device="elsewhere",
            scans=[scan],
        )
        return reply

    async def scan_elsewhere(self, code: str, gate: str = "south") -> dict[str, Any]:
        """Another door's scan, through REST with the organizer's token."""
        verdict: dict[str, Any] = await self.owner.call(
            "checkin.scan",
            bearer=self.bearer,
            origin=None,
            event_id=self.event_id,
            code=code,
            gate=gate,
        )
        return verdict


async def door_event(client: Any, *, tickets: int = 3, allow_reentry: bool = True) -> DoorEvent:
    owner = Browser(client)
    me = await owner.signup("owner@example.org")
    org = me["memberships"][0]["org"]
    bearer = await owner.token(org)
    common = {"bearer": bearer, "origin": None}
    event = await owner.call("events.create", **common, **EVENT)
    scoped = {**common, "event_id": event["id"]}
    await owner.call("gates.set", gates=["north", "south"], allow_reentry=allow_reentry, **scoped)
    kind = await owner.call("tickettypes.create", name="General", price_minor=0, **scoped)
    issued = await owner.call(
        "tickets.issue", ticket_type_id=kind["id"], holder=HOLDER, count=tickets, **scoped
    )
    codes = [t["code"] for t in issued["tickets"]]
    return DoorEvent(owner, org, event["id"], codes, bearer)


async def pair_at_gate(page: Page, door: DoorEvent, gate: str = "north") -> None:
    """Open /door, pair with a fresh code, pick the gate and wait for the ticket list."""
    await page.goto("/door")
    await page.get_by_label("Pairing code").fill(await door.pairing_code())
    await page.get_by_role("button", name="Pair").click()
    await page.get_by_label("Gate").select_option(gate)
    await expect(page.get_by_test_id("bundle")).to_be_visible(timeout=BROWSER_WAIT_MS)


def spoiled(code: str) -> str:
    """`code` with one character of its signature changed: certainly not a ticket.

    (Overwriting its tail with fixed characters leaves it unchanged when it
    already ends in them, a one-in-a-few-hundred chance.)
    """
    at = len(code) - 10
    return code[:at] + ("B" if code[at] == "A" else "A") + code[at + 1 :]


async def scan(page: Page, code: str, label: str = "Ticket code") -> None:
    """Type a code and Enter, as a keyboard-wedge scanner does; wait for its verdict."""
    verdict = page.get_by_test_id("verdict")
    before = int(await verdict.get_attribute("data-count") or 0)
    await page.get_by_label(label).focus()
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")
    await expect(verdict).to_have_attribute("data-count", str(before + 1), timeout=BROWSER_WAIT_MS)
