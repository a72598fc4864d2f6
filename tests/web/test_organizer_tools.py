"""The organizer console's tools on an event, in Chromium against the real backend:
an announcement reaches the attendees' channel; a door device pairs with the code
shown on screen.

docs/web.md §Organizer console.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import segno
from playwright.async_api import Browser, expect

from bilten.infra.settings import Settings
from tests.hub.helpers import connect
from tests.web.conftest import BROWSER_WAIT_MS
from tests.web.organizer import add_session, assert_clean, open_console, open_new_poll


async def test_an_announcement_reaches_the_attendees_channel(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    channel = f"event.{event_id}.announcements"
    attendee = await connect(
        await aiohttp_client(hub_server),
        make_token("attendee", org=console.org, sub="guest", events=[event_id]),
    )
    assert (await attendee.subscribe(channel))["op"] == "subscribed"

    await page.get_by_role("link", name="Announcements").click()
    await expect(page.get_by_role("link", name="Announcements")).to_have_attribute(
        "aria-current", "page"
    )
    text = "<b>Doors open</b> at 19:00"
    await page.get_by_label("Message to every attendee").fill(text)
    await page.get_by_role("button", name="Send the announcement").click()
    await expect(page.get_by_test_id("announce-status")).to_have_text(
        "Sent (message #1).", timeout=BROWSER_WAIT_MS
    )
    publication = await attendee.until("pub")
    assert (publication["channel"], publication["data"]) == (channel, {"text": text})
    shown = page.get_by_test_id("announcements").locator("li")
    await expect(shown).to_have_text([text])  # markup stays text
    await expect(page.get_by_label("Message to every attendee")).to_have_value("")
    await assert_clean(console.watched)


async def test_a_door_device_pairs_with_the_code_on_screen_and_is_revoked(
    browser: Browser, workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await page.get_by_role("link", name="Door devices").click()
    await page.get_by_label("Device name (e.g. North door)").fill("North door")
    await page.get_by_role("button", name="Create a pairing code").click()
    code = page.get_by_test_id("pairing-code")
    await expect(code).to_have_text(re.compile(r"^[2-9A-Z]{12}$"), timeout=BROWSER_WAIT_MS)
    qr = page.get_by_role("img", name="QR code pairing the device North door")
    await expect(qr).to_be_visible()

    # The QR holds the pairing URL: the same size as another encoder's for that text.
    shown = await code.inner_text()
    url = f"{workers.public_url}/pair#code={shown}"
    view_box = await qr.get_attribute("viewBox")
    size = segno.make(url, error="m", boost_error=False).symbol_size(border=4)[0]
    assert view_box == f"0 0 {size} {size}"

    redeemed = await page.context.request.post(
        "/api/v1/devices/redeem", data={"code": shown}, headers={"Origin": console.base_url}
    )
    assert redeemed.status == 201
    device = await redeemed.json()
    assert (device["org"], device["event_id"]) == (console.org, console.event_id)

    await page.get_by_role("button", name="Refresh the list").click()
    paired = page.get_by_test_id("devices").locator("li")
    await expect(paired).to_contain_text("North door", timeout=BROWSER_WAIT_MS)
    await page.get_by_role("button", name="Revoke North door").click()
    await expect(paired).to_have_attribute("data-revoked", "true", timeout=BROWSER_WAIT_MS)
    refused = await page.context.request.get(
        "/api/v1/events", headers={"Authorization": f"Bearer {device['token']}"}
    )
    assert refused.status == 401
    await assert_clean(console.watched)


async def test_a_poll_is_created_opened_and_its_results_move_live_on_the_presenter_view(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    await add_session(page, "Opening set")
    await page.get_by_label("Question").fill("Best <i>tune</i>?")
    await page.get_by_label("Options, one per line").fill("Take Five\nSo What\n\nBlue in Green")
    await page.get_by_role("button", name="Create the poll").click()
    poll = page.get_by_test_id("poll")
    await expect(poll.get_by_test_id("poll-status")).to_have_text("Draft", timeout=BROWSER_WAIT_MS)
    await expect(poll.get_by_role("heading")).to_have_text("Best <i>tune</i>?")
    await poll.get_by_role("button", name="Open the poll").click()
    await expect(poll.get_by_test_id("poll-status")).to_have_text("Open", timeout=BROWSER_WAIT_MS)

    polls = (await console.call("polls.list", {"event_id": event_id}))["polls"]
    assert [(p["options"], p["status"]) for p in polls] == [
        (["Take Five", "So What", "Blue in Green"], "open")
    ]
    client = await aiohttp_client(hub_server)
    for n, choice in enumerate([0, 0, 1]):
        voter = await connect(
            client, make_token("attendee", org=console.org, sub=f"v{n}", events=[event_id])
        )
        reply = await voter.call("polls.vote", {"poll_id": polls[0]["id"], "choice": choice})
        assert reply["op"] == "result", reply
    values = poll.get_by_test_id("bar-value")
    await expect(values).to_have_text(["2 (67%)", "1 (33%)", "0 (0%)"], timeout=BROWSER_WAIT_MS)
    await expect(poll.get_by_test_id("voters")).to_have_text("Voters: 3.")

    await poll.get_by_role("link", name="Presenter view").click()
    await expect(page.get_by_test_id("presenter-question")).to_have_text("Best <i>tune</i>?")
    bars = page.get_by_test_id("bars").locator("li")
    await expect(bars).to_have_count(3)
    await expect(bars.first).to_have_attribute("data-label", "Take Five")
    voter = await connect(
        client, make_token("attendee", org=console.org, sub="late", events=[event_id])
    )
    await voter.call("polls.vote", {"poll_id": polls[0]["id"], "choice": 2})
    await expect(page.get_by_test_id("bar-value")).to_have_text(
        ["2 (50%)", "1 (25%)", "1 (25%)"], timeout=BROWSER_WAIT_MS
    )
    await page.get_by_role("link", name="Back to the polls").click()
    await page.get_by_role("button", name="Close the poll").click()
    await expect(page.get_by_test_id("poll-status")).to_have_text("Closed", timeout=BROWSER_WAIT_MS)
    await assert_clean(console.watched)


async def test_questions_wait_for_approval_and_are_moderated_from_the_queue(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    await page.get_by_role("link", name="Questions").click()
    approval = page.get_by_label("Questions wait for approval before the room sees them")
    await expect(approval).to_be_enabled(timeout=BROWSER_WAIT_MS)
    await approval.click()  # checked once the hub has stored it
    await expect(approval).to_be_checked(timeout=BROWSER_WAIT_MS)
    await page.get_by_label("New session title").fill("Opening set")
    await page.get_by_role("button", name="Add the session").click()
    summary = page.get_by_test_id("qa-summary")
    await expect(summary).to_have_text("Questions: 0; waiting for approval: 0.")
    settings = await console.call("qa.settings", {"event_id": event_id})
    assert settings["require_approval"] is True

    session_id = (await console.call("sessions.list", {"event_id": event_id}))["sessions"][0]["id"]
    attendee = await connect(
        await aiohttp_client(hub_server),
        make_token("attendee", org=console.org, sub="guest", events=[event_id]),
    )
    assert (await attendee.subscribe(f"event.{event_id}.qa"))["op"] == "subscribed"
    text = "Will the <b>slides</b> be shared?"
    asked = await attendee.call(
        "qa.ask", {"event_id": event_id, "session_id": session_id, "text": text}
    )
    assert asked["result"]["state"] == "pending", asked

    question = page.get_by_test_id("question")
    await expect(question).to_have_attribute("data-state", "pending", timeout=BROWSER_WAIT_MS)
    await expect(summary).to_have_text("Questions: 1; waiting for approval: 1.")
    await expect(question.locator(".question-text")).to_have_text(text)
    await question.get_by_role("button", name="Approve").click()
    await expect(question).to_have_attribute("data-state", "visible", timeout=BROWSER_WAIT_MS)
    shown = await attendee.until("pub")
    assert [q["text"] for q in shown["data"]["questions"]] == [text]
    await question.get_by_role("button", name="Hide").click()
    await expect(question).to_have_attribute("data-state", "hidden", timeout=BROWSER_WAIT_MS)
    await expect(question.get_by_role("button", name="Approve")).to_be_visible()
    await assert_clean(console.watched)


async def test_the_event_is_edited_and_gets_ticket_types_and_gates(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    await page.get_by_role("link", name="Setup").click()
    await expect(page.get_by_label("Starts")).to_have_value(
        "2027-06-01T19:00", timeout=BROWSER_WAIT_MS
    )
    await page.get_by_label("Event name").fill("Sarajevo Jazz Night II")
    await page.get_by_label("Starts").fill("2027-06-01T20:00")
    await page.get_by_role("button", name="Save the event").click()
    await expect(page.get_by_test_id("event-saved")).to_have_text("Saved.")
    await expect(page.get_by_test_id("event-name")).to_have_text("Sarajevo Jazz Night II")
    event = await console.call("events.get", {"event_id": event_id})
    assert (event["name"], event["starts_at"]) == (
        "Sarajevo Jazz Night II",
        "2027-06-01T17:00:00+00:00",  # 20:00 in Istanbul
    )

    await expect(page.get_by_text("No ticket types yet.")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Standing")
    await page.get_by_label("Price (TRY)").fill("25.50")
    await page.get_by_label("Quota (leave empty: unlimited)").fill("300")
    await page.get_by_role("button", name="Add the ticket type").click()
    row = page.get_by_test_id("ticket-types").locator("tbody tr")
    await expect(row).to_have_text(
        "StandingTRY 25.503000300Change Standing", timeout=BROWSER_WAIT_MS
    )
    types = (await console.call("tickettypes.list", {"event_id": event_id}))["ticket_types"]
    assert [(t["name"], t["price_minor"], t["quota"]) for t in types] == [("Standing", 2550, 300)]
    await page.get_by_role("button", name="Change Standing").click()
    await page.get_by_label("Price (TRY)").first.fill("30")
    await page.get_by_role("button", name="Save the ticket type").click()
    await expect(row).to_have_text("StandingTRY 30.003000300Change Standing")
    types = (await console.call("tickettypes.list", {"event_id": event_id}))["ticket_types"]
    assert [(t["price_minor"], t["quota"]) for t in types] == [(3000, 300)]

    await page.get_by_label("Gate names, separated by commas").fill("north, south")
    await page.get_by_label("People who left may come back in").check()
    await page.get_by_role("button", name="Save the gates").click()
    await expect(page.get_by_test_id("gates-saved")).to_have_text("Saved: 2 gates.")
    gates = await console.call("gates.list", {"event_id": event_id})
    assert (gates["gates"], gates["allow_reentry"]) == (["north", "south"], True)

    # An event with tickets is not deleted, and the page says why.
    await console.call(
        "tickets.issue", {"event_id": event_id, "ticket_type_id": types[0]["id"], "holder": "Amra"}
    )
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete this event").click()
    await expect(page.get_by_test_id("error")).to_have_text(
        "The event cannot be deleted while it has tickets (1), orders (0) or active holds (0).",
        timeout=BROWSER_WAIT_MS,
    )
    await assert_clean(console.watched)


async def test_an_export_downloads_with_a_token_from_the_session(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    standing = await console.call(
        "tickettypes.create", {"event_id": event_id, "name": "Standing", "price_minor": 2500}
    )
    await console.call(
        "tickets.issue",
        {"event_id": event_id, "ticket_type_id": standing["id"], "count": 2, "holder": "=Amra"},
    )
    await page.get_by_role("link", name="Exports").click()
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download Tickets as CSV").click()
    download = await waiting.value
    assert download.suggested_filename == f"event-{event_id}-tickets.csv"
    path = await download.path()
    lines = (await asyncio.to_thread(Path(path).read_text, "utf-8")).splitlines()
    assert lines[0].startswith("ticket_id,ticket_type_id,ticket_type,holder,")
    assert len(lines) == 3 and all(',"\'=Amra",' in line for line in lines[1:]), lines
    await assert_clean(console.watched)


async def test_a_quiz_question_closes_into_a_leaderboard(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    await add_session(page, "Quiz night")
    await page.get_by_role("combobox", name="Kind").select_option("quiz")
    await page.get_by_label("Number of the correct option").fill("1")
    await page.get_by_label("Time limit (seconds)").fill("600")
    poll = await open_new_poll(page, "Who wrote Take Five?", "Paul Desmond\nMiles Davis")

    poll_id = (await console.call("polls.list", {"event_id": event_id}))["polls"][0]["id"]
    client = await aiohttp_client(hub_server)
    for sub, choice in [("amra", 0), ("emir", 1)]:
        player = await connect(
            client, make_token("attendee", org=console.org, sub=sub, events=[event_id])
        )
        reply = await player.call("polls.vote", {"poll_id": poll_id, "choice": choice})
        assert reply["op"] == "result", reply
    await expect(poll.get_by_test_id("voters")).to_have_text("Voters: 2.", timeout=BROWSER_WAIT_MS)
    await poll.get_by_role("button", name="Close the poll").click()
    board = page.get_by_test_id("leaderboard")
    await expect(board.locator("tbody tr").first.locator("th")).to_have_text(
        "amra", timeout=BROWSER_WAIT_MS
    )
    await expect(board.locator("caption")).to_have_text("Leaderboard (2 players)")
    await expect(poll.locator("[data-label='Paul Desmond'] .bar-label")).to_have_text(
        "Paul Desmond ✓ (correct)"
    )
    await assert_clean(console.watched)


async def test_a_hidden_poll_is_counted_for_the_organizer_revealed_reset_and_deleted(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    await add_session(page, "Opening set")
    await page.get_by_label("Hide the results from the room until I reveal them").check()
    poll = await open_new_poll(page, "Encore?", "Yes\nNo")
    await expect(poll.get_by_test_id("hidden-note")).to_be_visible(timeout=BROWSER_WAIT_MS)

    [listed] = (await console.call("polls.list", {"event_id": event_id}))["polls"]
    voter = await connect(
        await aiohttp_client(hub_server),
        make_token("attendee", org=console.org, sub="fan", events=[event_id]),
    )
    assert (await voter.call("polls.vote", {"poll_id": listed["id"], "choice": 0}))[
        "op"
    ] == "result"
    values = poll.get_by_test_id("bar-value")
    await expect(values).to_have_text(["1 (100%)", "0 (0%)"], timeout=BROWSER_WAIT_MS)
    await poll.get_by_role("button", name="Reveal the results").click()
    await expect(poll.get_by_test_id("hidden-note")).to_have_count(0, timeout=BROWSER_WAIT_MS)
    await expect(values).to_have_text(["1 (100%)", "0 (0%)"])

    page.on("dialog", lambda dialog: dialog.accept())
    await poll.get_by_role("button", name="Reset (delete the votes)").click()
    await expect(poll.get_by_test_id("poll-status")).to_have_text("Draft", timeout=BROWSER_WAIT_MS)
    await expect(values).to_have_count(0)
    await poll.get_by_role("button", name="Delete", exact=True).click()
    await expect(poll).to_have_count(0, timeout=BROWSER_WAIT_MS)
    assert (await console.call("polls.list", {"event_id": event_id}))["polls"] == []
    await page.get_by_role("button", name="Delete the session Opening set").click()
    await expect(page.get_by_role("combobox", name="Session", exact=True)).to_have_count(
        0, timeout=BROWSER_WAIT_MS
    )
    assert (await console.call("sessions.list", {"event_id": event_id}))["sessions"] == []
    await assert_clean(console.watched)


async def test_an_empty_event_is_deleted(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page = console.page
    await page.get_by_role("link", name="Setup").click()
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete this event").click()
    await expect(page.get_by_text("No events yet")).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert (await console.call("events.list", {}))["events"] == []
    await assert_clean(console.watched)


async def test_the_block_list_is_shown_as_the_worker_stored_it(
    browser: Browser, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    console = await open_console(browser, hub_server, aiohttp_client, make_token, "ana@example.org")
    page, event_id = console.page, console.event_id
    await page.get_by_role("link", name="Polls").click()
    await page.get_by_text("Words refused in answers").click()
    await expect(page.get_by_test_id("blocklist-count")).to_have_text(
        "Words on the list: 0.", timeout=BROWSER_WAIT_MS
    )
    await page.get_by_label("One word or phrase per line").fill("Darn\n  heck \n")
    await page.get_by_role("button", name="Save the list").click()
    await expect(page.get_by_test_id("blocklist-count")).to_have_text("Words on the list: 2.")
    await expect(page.get_by_label("One word or phrase per line")).to_have_value("darn\nheck")
    stored = await console.call("polls.blocklist", {"event_id": event_id})
    assert stored["words"] == ["darn", "heck"]
    await assert_clean(console.watched)
