"""The attendee page's seat view (js/attendee/seats.js) against its Python twin,
protocol/seats.py: the same snapshot and deltas give the same places left per type.

docs/allocation.md §Live availability, docs/web.md §Attendee page.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, expect

from bilten.protocol.seats import GaCount, Resync, SeatRow, apply, counts, encode_snapshot
from bilten.protocol.seats import from_snapshot as view_of
from tests.web.conftest import BROWSER_WAIT_MS, Stack, open_page

SEATS = [
    SeatRow(101, 7, 12, "available", 5, False),
    SeatRow(102, 7, 12, "held", 9, True),
    SeatRow(103, 7, 12, "available", 3, False),
    SeatRow(107, 8, 13, "sold", 4, False),
    SeatRow(108, 8, None, "available", 1, False),
]
GA = {14: GaCount(10, 2, 3, 6), 15: GaCount(None, 0, 1, 2)}
DELTAS: list[dict[str, Any]] = [
    {"seats": [[101, "h", 10], [102, "a", 8]], "ga": [[14, 10, 4, 3, 7]]},  # 102: stale
    {"seats": [[102, "s", 11], [107, "a", 12]], "ga": [[14, 10, 1, 3, 5]]},  # GA: stale
    {"seats": [], "ga": [[15, 20, 0, 1, 8]]},
    {"seats": [[999, "a", 13]], "ga": []},  # unknown seat: subscribe again
    {"seats": [], "ga": [], "map": 2},  # the map grew: subscribe again
]
TYPES = [12, 13, 14, 15]


def python_steps() -> list[Any]:
    snapshot = encode_snapshot(SEATS, GA, map_version=1, offset=4, epoch="e")
    view = view_of(snapshot)
    steps: list[Any] = []
    for delta in DELTAS:
        try:
            view = apply(view, delta)
        except Resync:
            steps.append("resync")
            continue
        left = {c["ticket_type_id"]: c["available"] for c in counts(view)["types"]}
        steps.append([left.get(t, 0) for t in TYPES])
    return [snapshot, steps]


async def test_the_page_applies_snapshots_and_deltas_as_protocol_seats_does(
    browser: Browser, stack: Stack
) -> None:
    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await page.goto(f"/e/{stack.event_id}")
    await expect(page.get_by_test_id("title")).to_have_text("Bilten event", timeout=BROWSER_WAIT_MS)
    snapshot, expected = python_steps()
    found = await page.evaluate(
        """async ([snapshot, deltas, types]) => {
          const src = document.querySelector('script[type="module"]').src;
          const m = await import(new URL("seats.js", src).href);
          let view = m.fromSnapshot(snapshot);
          return deltas.map((delta) => {
            const next = m.apply(view, delta);
            if (next === null) return "resync";
            view = next;
            return types.map((type) => m.available(view, type));
          });
        }""",
        [snapshot, DELTAS, TYPES],
    )
    assert found == expected
    assert expected == [[1, 0, 3, None], [1, 1, 3, None], [1, 1, 3, 19], "resync", "resync"]
