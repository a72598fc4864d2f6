"""hub/static/js/bilten.js in Chromium against a live hub (docs/web.md §Client module).

Each test loads a page of the hub (so the module runs under the pages' own
Content-Security-Policy) and drives the module from there; `window.t` holds
what its callbacks saw. The token is handed over through a function that
waits on a gate the test opens, so "while the client is away" is a state the
test holds, not a race.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from playwright.async_api import Browser, expect

from bilten.infra.settings import Settings
from tests.hub.helpers import frames_in
from tests.waiting import wait_for
from tests.web.conftest import BROWSER_WAIT_MS, Stack, Watched, open_page

SETUP = """
async ([token, backoff]) => {
  // With a backoff given, the token comes from a function behind the gate; else fixed.
  // js/ beside the catalogue's i18n/: whichever app module the page runs.
  const src = new URL("../js/bilten.js", new URL(document.body.dataset.i18n, location.href));
  const module = await import(src.href);
  const t = (window.t = { module, pubs: [], subscribed: [], states: [], errors: [], tokens: 0 });
  t.gate = Promise.resolve();
  t.hold = () => { t.gate = new Promise((open) => { t.release = open; }); };
  const url = `ws://${location.host}/ws`;
  const provide = async () => { t.tokens += 1; await t.gate; return token; };
  t.client = new module.BiltenClient(url, { token: backoff ? provide : token, backoff });
  t.client.onState((state) => t.states.push(state));
  t.handlers = {
    onPublication: (pub) => t.pubs.push(pub),
    onSubscribed: (frame) => t.subscribed.push(frame),
    onError: (error) => t.errors.push(error.code),
  };
  await t.client.connect();
}
"""


async def client_page(browser: Browser, stack: Stack, token: str, backoff: Any = None) -> Watched:
    watched = await open_page(browser, stack.base_url)
    await watched.page.goto("/organizer")
    # The console asks whether someone is signed in: its 401 is the page's, not the module's.
    await expect(watched.page.get_by_role("heading", name="Sign in")).to_be_visible(
        timeout=BROWSER_WAIT_MS
    )
    watched.errors.clear()
    await watched.page.evaluate(SETUP, [token, backoff])
    return watched


async def failure(watched: Watched, call: str) -> Any:
    """[name, code, details] of the error the call (a JS expression on `t`) rejects with."""
    return await watched.page.evaluate(
        f"async () => {{ const t = window.t; try {{ await ({call}); return null; }}"
        " catch (e) { return [e.name, e.code, e.details]; } }"
    )


async def test_subscribes_receives_and_recovers_what_it_missed_while_away(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    token = make_token("attendee", sub="browser", events=[stack.event_id])
    watched = await client_page(browser, stack, token, {"minMs": 20, "maxMs": 100})
    page = watched.page
    channel = f"event.{stack.event_id}.announcements"
    offset = await page.evaluate(
        "(ch) => t.client.subscribe(ch, t.handlers).then(s => s.offset)", channel
    )
    assert offset == 0
    await stack.publish(channel, {"text": "doors open"})
    await page.wait_for_function("() => t.pubs.length === 1")

    await page.evaluate("t.hold()")  # the next connection waits for its token
    [conn] = stack.connections_of("browser")
    conn.transport.abort()  # the network drops the socket
    await page.wait_for_function("() => t.tokens === 2")
    assert await page.evaluate("t.client.state") == "reconnecting"
    missed = [await stack.publish(channel, {"text": f"missed {n}"}) for n in range(3)]
    assert missed == [2, 3, 4]
    await page.evaluate("t.release()")

    await page.wait_for_function("() => t.pubs.length === 4 && t.subscribed.length === 2")
    await stack.publish(channel, {"text": "live again"})
    await page.wait_for_function("() => t.pubs.length === 5")
    seen = await page.evaluate("t.pubs.map((p) => [p.offset, p.data.text])")
    assert seen == [
        [1, "doors open"],
        [2, "missed 0"],
        [3, "missed 1"],
        [4, "missed 2"],
        [5, "live again"],
    ]
    first, again = await page.evaluate("t.subscribed")
    assert (first["recovered"], first["first"]) == (False, True)
    assert (again["recovered"], again["first"]) == (True, False)
    assert await page.evaluate("[t.client.reconnects, t.client.state]") == [1, "open"]
    assert await page.evaluate("t.states") == ["connecting", "open", "reconnecting", "open"]
    await watched.assert_clean()


async def test_rpc_results_error_codes_and_timeouts(
    browser: Browser, stack: Stack, make_token: Any, settings: Settings
) -> None:
    token = make_token("attendee", sub="browser", events=[stack.event_id])
    watched = await client_page(browser, stack, token)
    page = watched.page
    event = await page.evaluate(
        "(id) => t.client.rpc('events.get', {event_id: id})", stack.event_id
    )
    assert event["id"] == stack.event_id
    assert await failure(watched, "t.client.rpc('events.get', {event_id: 99999})") == [
        "BiltenError",
        "not_found",
        None,
    ]
    name, code, details = await failure(watched, "t.client.rpc('events.get', {event_id: 'x'})")
    assert (name, code, details["field"]) == ("BiltenError", "bad_request", "event_id")
    assert (await failure(watched, "t.client.rpc('no.such_method')"))[1] == "unknown_method"
    assert (await failure(watched, "t.client.rpc('events.create', {})"))[1] == "forbidden"

    # A command held up behind a lock answers too late: the call times out, the socket stays.
    assert settings.database_url
    db = await asyncpg.connect(settings.database_url)
    try:
        async with db.transaction():
            await db.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            late = f"t.client.rpc('events.get', {{event_id: {stack.event_id}}}, {{timeoutMs: 300}})"
            assert (await failure(watched, late))[1] == "timeout"
    finally:
        await db.close()
    assert await page.evaluate("t.client.ping().then(() => t.client.state)") == "open"
    await watched.assert_clean()


async def test_subscribe_refusals_and_close(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    token = make_token("attendee", sub="browser", events=[stack.event_id])
    watched = await client_page(browser, stack, token)
    page = watched.page
    name, code, details = await failure(watched, "t.client.subscribe('event.1.no such')")
    assert (name, code, details) == ("BiltenError", "bad_channel", {"channel": "event.1.no such"})
    dashboard = f"t.client.subscribe('event.{stack.event_id}.dashboard')"
    assert (await failure(watched, dashboard))[1] == "forbidden"
    channel = f"event.{stack.event_id}.announcements"
    await page.evaluate("(ch) => t.client.subscribe(ch, t.handlers)", channel)
    assert (await failure(watched, f"t.client.subscribe('{channel}')"))[1] == "conflict"

    await page.evaluate("t.client.close()")
    assert await page.evaluate("t.client.state") == "closed"
    assert (await failure(watched, "t.client.rpc('events.list')"))[1] == "connection_closed"
    await wait_for(lambda: not stack.connections_of("browser"), what="the hub to see the close")
    await watched.assert_clean()


async def test_a_refused_token_ends_the_client_unless_it_can_get_another(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    token = make_token("attendee", sub="browser", events=[stack.event_id])
    watched = await client_page(browser, stack, token)  # a fixed token: no fresh one to get
    page = watched.page
    channel = f"event.{stack.event_id}.announcements"
    await page.evaluate("(ch) => t.client.subscribe(ch, t.handlers)", channel)
    [conn] = stack.connections_of("browser")
    conn.disconnect("token_expired", "access token expired")
    await page.wait_for_function("() => t.client.state === 'closed'")
    assert await page.evaluate("[t.client.error.code, t.errors]") == [
        "token_expired",
        ["token_expired"],
    ]

    watched = await client_page(browser, stack, token, {"minMs": 20, "maxMs": 100})
    page = watched.page  # a token function: the client asks it again and goes on
    await page.evaluate("(ch) => t.client.subscribe(ch, t.handlers)", channel)
    [conn] = stack.connections_of("browser")
    conn.disconnect("token_expired", "access token expired")
    await page.wait_for_function("() => t.tokens === 2 && t.subscribed.length === 2")
    assert await page.evaluate("[t.client.state, t.subscribed[1].recovered]") == ["open", True]
    await watched.assert_clean()


async def test_pure_rules_match_the_python_side(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    """Backoff bounds and recovery steps as in clients/sdk.py and protocol/recovery.py."""
    watched = await client_page(browser, stack, make_token("organizer", sub="browser"))
    results = await watched.page.evaluate(
        """() => {
          const m = t.module;
          return {
            low: m.backoffDelay(0, {}, () => 0),
            first: m.backoffDelay(0, {}, () => 1),
            capped: m.backoffDelay(20, {}, () => 1),
            steps: [[{epoch: "", offset: 0}, "e", 1], [{epoch: "e", offset: 3}, "e", 3],
                    [{epoch: "e", offset: 3}, "e", 5], [{epoch: "e", offset: 3}, "f", 4]]
              .map(([position, epoch, offset]) => m.classify(position, epoch, offset)),
            codes: [4001, 4009, 1006].map(m.disconnectCode),
            urls: ["http://example.org/ws", "::"].map((url) => {
              try { new m.BiltenClient(url); return null; }
              catch (e) { return [e.code, e.details]; }
            }),
            errors: [{code: "not_found", message: "m", details: {field: "x"}},
                     {code: "brand_new", message: "n"}, "junk"]
              .map((wire) => m.BiltenError.fromWire(wire))
              .map((e) => [e.code, e.message, e.details]),
          };
        }"""
    )
    assert results == {
        "low": 50,
        "first": 100,
        "capped": 5000,
        "steps": ["next", "duplicate", "gap", "new_epoch"],
        "codes": ["token_expired", "reconnect", None],
        "urls": [["bad_request", {"field": "url"}]] * 2,
        "errors": [
            ["not_found", "m", {"field": "x"}],
            ["internal", "n", None],  # an unknown code reads as internal (§Errors)
            ["internal", "internal", None],
        ],
    }


async def test_a_stateful_channel_gives_its_snapshot_and_reconnect_comes_back_at_once(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    token = make_token("attendee", sub="browser", events=[stack.event_id])
    watched = await client_page(browser, stack, token, {"minMs": 20, "maxMs": 100})
    page = watched.page
    channel = f"event.{stack.event_id}.polls"
    expected = await stack.organizer.subscribe(channel)
    assert expected["op"] == "subscribed" and expected["snapshot"] is not None, expected
    snapshot = await page.evaluate(
        "(ch) => t.client.subscribe(ch, t.handlers).then((s) => s.snapshot)", channel
    )
    assert snapshot == expected["snapshot"]

    [conn] = stack.connections_of("browser")
    conn.disconnect("reconnect", "hub shutting down")  # as on a hub's shutdown
    await page.wait_for_function("() => t.subscribed.length === 2 && t.client.state === 'open'")
    again = await page.evaluate("t.subscribed[1]")
    assert (again["recovered"], again["snapshot"]) == (True, None)
    assert await page.evaluate("[t.client.reconnects, t.errors]") == [1, []]
    await watched.assert_clean()


# A call kept in `t[name]` as ["ok", offset] or ["error", code], so no rejection goes unhandled.
PUBLISH = """
([name, channel, timeoutMs]) => {
  t[name] = t.client.rpc("channels.publish", {channel, data: {text: name}}, {timeoutMs})
    .then((r) => ["ok", r.offset], (e) => ["error", e.code]);
}
"""


async def unrun_calls(
    browser: Browser, stack: Stack, make_token: Any, calls: dict[str, int]
) -> tuple[Watched, Any]:
    """A page whose calls (name: timeout in ms) publish to the event's announcements; the hub
    has read them and holds them unrun, as during a goodbye (hub/goodbye.py). Its connection."""
    watched = await client_page(
        browser, stack, make_token("organizer", sub="browser"), {"minMs": 20, "maxMs": 100}
    )
    [conn] = stack.connections_of("browser")
    conn.leaving = True  # the hub reads on and runs nothing
    before = frames_in(stack.server)
    for name, timeout_ms in calls.items():
        await watched.page.evaluate(PUBLISH, [name, announcements(stack), timeout_ms])
    await wait_for(
        lambda: frames_in(stack.server) >= before + len(calls), what="the hub to read the calls"
    )
    return watched, conn


def announcements(stack: Stack) -> str:
    return f"event.{stack.event_id}.announcements"


async def test_calls_the_hub_did_not_read_before_reconnect_go_again_within_their_timeout(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    """docs/web.md §Client module, Re-sending: `reconnect` means unread, so sent again."""
    calls = {"kept": BROWSER_WAIT_MS, "late": 1000}
    watched, conn = await unrun_calls(browser, stack, make_token, calls)
    page = watched.page
    await page.evaluate("t.hold()")  # the next connection waits for its token
    conn.disconnect("reconnect", "hub shutting down")
    await page.wait_for_function("() => t.tokens === 2")
    # Kept, not failed: only its own timeout ends the call while the client is away.
    assert await page.evaluate("t.late") == ["error", "timeout"]
    assert await page.evaluate("t.client.state") == "reconnecting"
    await page.evaluate("t.release()")
    assert await page.evaluate("t.kept") == ["ok", 1]
    # The kept call ran once, the late one never.
    assert await stack.publish(announcements(stack), {"text": "after"}) == 2
    assert await page.evaluate("[t.client.reconnects, t.client.state]") == [1, "open"]
    await watched.assert_clean()


async def test_a_call_pending_when_the_connection_drops_fails_unavailable(
    browser: Browser, stack: Stack, make_token: Any
) -> None:
    """Lost without `reconnect`, a call may have run: it fails `unavailable`, as before."""
    watched, conn = await unrun_calls(browser, stack, make_token, {"lost": BROWSER_WAIT_MS})
    page = watched.page
    conn.transport.abort()  # the network drops the socket
    assert await page.evaluate("t.lost") == ["error", "unavailable"]
    await page.evaluate(PUBLISH, ["again", announcements(stack), BROWSER_WAIT_MS])
    assert await page.evaluate("t.again") == ["ok", 1]  # on the next connection
    assert await page.evaluate("[t.client.reconnects, t.client.state]") == [1, "open"]
    await watched.assert_clean()
