"""The organizer console's pure modules in Chromium, against their Python twins
where there is one: seat states follow protocol/seats.py, wall-clock times keep
their zone's offset, and a channel still held by a view just left is waited for.

docs/web.md §Organizer console.
"""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from bilten.protocol import seats
from tests.web.conftest import BROWSER_WAIT_MS, Stack, open_page

IMPORT = """
async (name) => {
  const base = new URL(document.body.dataset.i18n, location.href);
  return import(new URL(`../js/organizer/${name}`, base).href);
}
"""


async def module_page(browser: Browser, stack: Stack) -> Page:
    watched = await open_page(browser, stack.base_url)
    await watched.page.goto("/organizer")
    await expect(watched.page.get_by_role("heading", name="Sign in")).to_be_visible(
        timeout=BROWSER_WAIT_MS
    )
    return watched.page


async def test_seat_states_follow_the_protocols_rules(browser: Browser, stack: Stack) -> None:
    snapshot = {
        "map": 1, "offset": 5, "epoch": "e1", "version": 9,
        "ids": [[10, 4], [20, 2]], "states": "2ahs2a",
        "sections": [[1, 6]], "types": [[7, 6]], "versions": [[12, 8], [13, 9]], "ga": [],
    }  # fmt: skip
    deltas = [
        ({"seats": [[10, "h", 3]], "ga": []}, 5, "e1"),  # the snapshot reflects it: skipped
        ({"seats": [[10, "h", 10], [12, "a", 7]], "ga": []}, 6, "e1"),  # 12: older than known
        ({"seats": [[21, "s", 11], [13, "a", 12]], "ga": []}, 7, "e1"),
    ]
    view = seats.from_snapshot(snapshot)
    for delta, offset, epoch in deltas:
        view = seats.apply(view, delta, offset=offset, epoch=epoch)
    expected = [seats.CODES[view.states[i]] for i in (10, 11, 12, 13, 20, 21)]

    page = await module_page(browser, stack)
    found = await page.evaluate(
        f"""async ([snapshot, deltas]) => {{
          const m = await ({IMPORT})("seatstate.js");
          const index = new Map([10, 11, 12, 13, 20, 21].map((id, i) => [id, i]));
          const live = new m.SeatStates(index);
          live.fromSnapshot(snapshot);
          const changed = deltas.map(([d, offset, epoch]) => live.apply(d, offset, epoch));
          let resync = null;
          try {{ live.apply({{seats: [], map: 2}}, 8, "e1"); }} catch (e) {{
            resync = e instanceof m.Resync; }}
          return {{states: [...live.states].map((s) => "ahs"[s]), counts: live.counts,
                   changed, resync}};
        }}""",
        [snapshot, [list(d) for d in deltas]],
    )
    assert found["states"] == expected == ["h", "a", "h", "a", "a", "s"]
    assert found["counts"] == [3, 2, 1]
    assert found["changed"] == [[], [0], [5, 3]]
    assert found["resync"] is True


async def test_wall_clock_times_keep_their_zones_offset(browser: Browser, stack: Stack) -> None:
    page = await module_page(browser, stack)
    found = await page.evaluate(
        f"""async () => {{
          const m = await ({IMPORT})("zoned.js");
          return [
            m.zonedIso("2027-06-01T19:00", "Europe/Sarajevo"),
            m.zonedIso("2027-01-15T09:30", "Europe/Sarajevo"),
            m.zonedIso("2027-03-14T12:00", "America/New_York"),
            m.zonedIso("2027-06-01T19:00", "Asia/Kathmandu"),
            m.wallClock("2027-06-01T17:00:00+00:00", "Europe/Sarajevo"),
            m.wallClock("2027-01-15T08:30:00+00:00", "Europe/Sarajevo"),
          ];
        }}"""
    )
    assert found == [
        "2027-06-01T19:00:00+02:00",
        "2027-01-15T09:30:00+01:00",
        "2027-03-14T12:00:00-04:00",  # the day daylight saving starts there
        "2027-06-01T19:00:00+05:45",
        "2027-06-01T19:00",
        "2027-01-15T09:30",
    ]


async def test_a_channel_still_held_by_a_view_just_left_is_waited_for(
    browser: Browser, stack: Stack
) -> None:
    page = await module_page(browser, stack)
    found = await page.evaluate(
        f"""async () => {{
          const m = await ({IMPORT})("live.js");
          const conflict = Object.assign(new Error("held"), {{code: "conflict"}});
          const flaky = (refusals) => {{
            const client = {{calls: 0, subscribe: async () => {{
              client.calls += 1;
              if (client.calls <= refusals) throw conflict;
              return "subscription";
            }}}};
            return client;
          }};
          const waited = flaky(2);
          const made = await m.subscribeWhenFree(waited, "event.1.dashboard", {{}}, () => true);
          const left = flaky(5);
          let code = null;
          try {{ await m.subscribeWhenFree(left, "event.1.dashboard", {{}}, () => false); }}
          catch (e) {{ code = e.code; }}
          return [made, waited.calls, code, left.calls];
        }}"""
    )
    assert found == ["subscription", 3, "conflict", 1]
