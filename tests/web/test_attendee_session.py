"""The live session on the attendee page, in Chromium: polls, Q&A and reactions.

docs/web.md §Attendee page, docs/engagement.md. A ticket holder votes once
and sees the results as each poll allows (live, or once revealed), asks a
question and upvotes, and reacts, while an organizer and another attendee
act over their own sockets.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Browser, expect

from bilten.infra.settings import Settings
from tests.allocation.helpers import ok
from tests.hub.helpers import connect
from tests.web.attendee_helpers import SIGNED_OUT, assert_clean, bought, sign_in_on_page
from tests.web.conftest import BROWSER_WAIT_MS, Stack, open_page
from tests.web.test_accessibility import serious_violations

EMAIL = "amra@example.org"


async def test_votes_once_asks_upvotes_and_reacts_live(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(stack.server)
    await bought(stack, client, make_token, EMAIL)
    organizer = stack.organizer
    session = ok(
        await organizer.call(
            "sessions.create", {"event_id": stack.event_id, "title": "Keynote", "room": "Hall A"}
        )
    )
    live = ok(
        await organizer.call(
            "polls.create",
            {
                "session_id": session["id"],
                "question": "Best set?",
                "kind": "single",
                "options": ["First", "Second"],
            },
        )
    )
    ok(await organizer.call("polls.open", {"poll_id": live["id"]}))

    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, EMAIL)
    await expect(page.get_by_test_id("session")).to_have_value(
        str(session["id"]), timeout=BROWSER_WAIT_MS
    )
    poll = page.locator(f'[data-poll="{live["id"]}"]')
    await expect(poll.get_by_role("heading", name="Best set?")).to_be_visible()
    await expect(poll.get_by_test_id("results")).to_have_count(0)  # vote first
    await poll.get_by_label("Second").check()
    await poll.get_by_role("button", name="Vote").click()
    await expect(poll.get_by_test_id("voted")).to_have_text("Your vote is counted.")
    await expect(poll.get_by_test_id("results")).to_contain_text(
        "Second: 1 (100%)", timeout=BROWSER_WAIT_MS
    )
    await expect(poll.get_by_role("button", name="Vote")).to_have_count(0)

    # Results kept for the reveal: hidden after the vote until the organizers show them.
    hidden = ok(
        await organizer.call(
            "polls.create",
            {
                "session_id": session["id"],
                "question": "Encore?",
                "kind": "single",
                "options": ["Yes", "No"],
                "results": "on_close",
            },
        )
    )
    ok(await organizer.call("polls.open", {"poll_id": hidden["id"]}))
    later = page.locator(f'[data-poll="{hidden["id"]}"]')
    await later.get_by_label("Yes").check(timeout=BROWSER_WAIT_MS)
    await later.get_by_role("button", name="Vote").click()
    await expect(later.get_by_test_id("results-hidden")).to_be_visible(timeout=BROWSER_WAIT_MS)
    ok(await organizer.call("polls.reveal", {"poll_id": hidden["id"]}))
    await expect(later.get_by_test_id("results")).to_contain_text(
        "Yes: 1 (100%)", timeout=BROWSER_WAIT_MS
    )

    # Q&A: ask, see another attendee's upvote arrive, upvote too.
    await page.get_by_label("Your question").fill("Will the slides be shared?")
    await page.get_by_role("button", name="Ask", exact=True).click()
    await expect(page.get_by_test_id("ask-status")).to_have_text("Your question is on the list.")
    question = page.get_by_test_id("question").filter(has_text="Will the slides be shared?")
    await expect(question).to_contain_text("0 upvotes", timeout=BROWSER_WAIT_MS)
    question_id = int(await question.get_attribute("data-question") or 0)
    other = await connect(client, make_token("attendee", sub="lejla", events=[stack.event_id]))
    ok(await other.call("qa.upvote", {"event_id": stack.event_id, "question_id": question_id}))
    await expect(question).to_contain_text("1 upvotes", timeout=BROWSER_WAIT_MS)
    await question.get_by_role("button", name="Upvote").click()
    await expect(question).to_contain_text("2 upvotes", timeout=BROWSER_WAIT_MS)
    await expect(question.get_by_role("button", name="Upvoted (take back)")).to_have_attribute(
        "aria-pressed", "true"
    )

    # Anonymous: stored without any asker. Then the limit, said with its wait.
    ask_status = page.get_by_test_id("ask-status")
    await page.get_by_label("Your question").fill("Who chose the encore?")
    await page.get_by_label("Ask anonymously").check()
    await page.get_by_role("button", name="Ask", exact=True).click()
    await expect(ask_status).to_have_text("Your question is on the list.")
    listed = ok(
        await organizer.call("qa.list", {"event_id": stack.event_id, "session_id": session["id"]})
    )
    authors = {q["text"]: q["author"] for q in listed["questions"]}
    assert authors["Who chose the encore?"] is None
    assert authors["Will the slides be shared?"] is not None
    for number in range(3, 7):  # five questions a minute: the sixth waits
        await page.get_by_label("Your question").fill(f"Question {number}?")
        await page.get_by_role("button", name="Ask", exact=True).click()
        await expect(page.get_by_label("Your question")).to_have_value(
            "" if number < 6 else f"Question {number}?"
        )
    await expect(ask_status).to_have_text(
        re.compile(r"You asked a lot at once: try again in \d+ seconds\.")
    )

    # Reactions: the room's counts come back on the channel.
    await page.get_by_role("button", name="🔥 0: send 🔥 to the room").click()
    await expect(page.get_by_role("button", name="🔥 1: send 🔥 to the room")).to_be_visible(
        timeout=BROWSER_WAIT_MS
    )
    assert await serious_violations(page) == []

    # Voted once: after a reload the poll shows the results, not the ballot.
    await page.reload()
    await expect(poll.get_by_test_id("voted")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await expect(poll.get_by_role("button", name="Vote")).to_have_count(0)
    await expect(poll.get_by_test_id("results")).to_contain_text("Second: 1 (100%)")

    await page.get_by_test_id("language").select_option("tr")
    await expect(page.get_by_role("heading", name="Anketler")).to_be_visible()
    await expect(poll.get_by_test_id("results")).to_contain_text("Second: 1 (%100)")
    assert "⟦" not in await page.inner_text("body")  # every string has its Turkish
    assert await serious_violations(page) == []
    await assert_clean(watched, SIGNED_OUT)


async def test_a_quiz_shows_the_right_answer_the_leaderboard_and_my_rank(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL)
    organizer = stack.organizer
    session = ok(
        await organizer.call("sessions.create", {"event_id": stack.event_id, "title": "Quiz"})
    )
    quiz = ok(
        await organizer.call(
            "polls.create",
            {
                "session_id": session["id"],
                "question": "Which city hosts the festival?",
                "kind": "quiz",
                "options": ["Mostar", "Sarajevo"],
                "correct": 1,
                "time_limit_s": 600,
            },
        )
    )
    ok(await organizer.call("polls.open", {"poll_id": quiz["id"]}))

    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, EMAIL)
    card = page.locator(f'[data-poll="{quiz["id"]}"]')
    await expect(card).to_contain_text("Answer within 600 seconds", timeout=BROWSER_WAIT_MS)
    await card.get_by_label("Sarajevo").check()
    await card.get_by_role("button", name="Vote").click()
    await expect(card.get_by_test_id("voted")).to_be_visible(timeout=BROWSER_WAIT_MS)
    await expect(card.get_by_text("✓ correct answer")).to_have_count(0)  # not while open

    ok(await organizer.call("polls.close", {"poll_id": quiz["id"]}))
    await expect(card.get_by_test_id("results")).to_contain_text(
        "Sarajevo: 1 (100%) ✓ correct answer", timeout=BROWSER_WAIT_MS
    )
    board = page.get_by_test_id("leaderboard")
    await expect(board).to_contain_text("Leaderboard (1 players)", timeout=BROWSER_WAIT_MS)
    await expect(board.locator("li")).to_have_count(1)
    await expect(board.locator("li")).to_contain_text("(you)")
    await expect(page.get_by_test_id("my-rank")).to_have_text(
        re.compile(r"You are number 1 of 1, with \d+ points\."), timeout=BROWSER_WAIT_MS
    )
    assert await serious_violations(page) == []
    await assert_clean(watched, SIGNED_OUT)


async def test_each_kind_of_ballot_is_cast_and_its_results_shown(
    browser: Browser, stack: Stack, workers: Settings, aiohttp_client: Any, make_token: Any
) -> None:
    await bought(stack, await aiohttp_client(stack.server), make_token, EMAIL)
    organizer = stack.organizer
    session = ok(
        await organizer.call("sessions.create", {"event_id": stack.event_id, "title": "Panel"})
    )
    polls = {}
    for kind, question, options in (
        ("multiple", "Which sets?", ["Early", "Late", "Encore"]),
        ("rating", "How was the sound?", None),
        ("words", "One word for tonight?", None),
        ("ranking", "Rank the bands", ["Alpha", "Beta", "Gamma"]),
    ):
        params = {"session_id": session["id"], "question": question, "kind": kind}
        if options:
            params["options"] = options
        polls[kind] = ok(await organizer.call("polls.create", params))
        ok(await organizer.call("polls.open", {"poll_id": polls[kind]["id"]}))

    watched = await open_page(browser, stack.base_url)
    page = watched.page
    await sign_in_on_page(page, workers, stack, EMAIL)

    def card(kind: str) -> Any:
        return page.locator(f'[data-poll="{polls[kind]["id"]}"]')

    await card("multiple").get_by_label("Early").check(timeout=BROWSER_WAIT_MS)
    await card("multiple").get_by_label("Encore").check()
    await card("multiple").get_by_role("button", name="Vote").click()
    results = card("multiple").get_by_test_id("results")
    await expect(results).to_contain_text("Early: 1 (100%)", timeout=BROWSER_WAIT_MS)
    await expect(results).to_contain_text("Late: 0 (0%)")
    await expect(results).to_contain_text("Encore: 1 (100%)")

    await card("rating").get_by_label("4").check()
    await card("rating").get_by_role("button", name="Vote").click()
    await expect(card("rating").get_by_test_id("results")).to_contain_text(
        "Average: 4", timeout=BROWSER_WAIT_MS
    )

    await card("words").get_by_label("A few words").fill("  Magical ")
    await card("words").get_by_role("button", name="Vote").click()
    await expect(card("words").get_by_test_id("results")).to_contain_text(
        "magical: 1", timeout=BROWSER_WAIT_MS
    )

    ranking = card("ranking")
    await ranking.get_by_role("button", name="Move Gamma up").click()
    await ranking.get_by_role("button", name="Move Gamma up").click()  # Gamma, Alpha, Beta
    await expect(ranking.get_by_role("button", name="Move Gamma up")).to_be_disabled()
    await ranking.get_by_role("button", name="Vote").click()
    await expect(ranking.get_by_test_id("results").locator("li")).to_have_text(
        ["Gamma: 2 points", "Alpha: 1 points", "Beta: 0 points"], timeout=BROWSER_WAIT_MS
    )
    assert await serious_violations(page) == []
    await assert_clean(watched, SIGNED_OUT)
