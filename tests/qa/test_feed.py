"""`event.{id}.qa`: each session's visible list, live and in snapshots, never a hidden question."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from tests.hub.helpers import Raw
from tests.qa.conftest import Room, ok
from tests.ready import workers_answer
from tests.waiting import arrives, wait_for


class Watcher:
    """Subscribes to the event's qa channel and keeps every session's latest list, and
    every question text it was ever sent."""

    def __init__(self, raw: Raw, event_id: int) -> None:
        self.raw = raw
        self.channel = f"event.{event_id}.qa"
        self.lists: dict[int, list[dict[str, Any]]] = {}
        self.seen: set[str] = set()
        self.publications = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        reply = await self.raw.subscribe(self.channel)
        assert reply["op"] == "subscribed", reply
        for session in reply["snapshot"]["sessions"]:
            self._apply(session)
        self._task = asyncio.get_running_loop().create_task(self._read())

    def _apply(self, session: dict[str, Any]) -> None:
        self.lists[session["session_id"]] = session["questions"]
        self.seen |= {q["text"] for q in session["questions"]}
        assert all(q["state"] == "visible" for q in session["questions"]), session

    async def _read(self) -> None:
        while True:
            message = await self.raw.recv(timeout=3600)
            if message["op"] == "pub" and message["channel"] == self.channel:
                self.publications += 1
                self._apply(message["data"])

    def texts(self, session_id: int) -> list[str]:
        return [q["text"] for q in self.lists.get(session_id, [])]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _ask(room: Room, text: str) -> dict[str, Any]:
    return {"event_id": room.event_id, "session_id": room.session_id, "text": text}


async def test_attendees_never_receive_hidden_or_unapproved_questions(room: Room) -> None:
    alice = await room.attendee("alice")
    watcher = Watcher(await room.attendee("watcher"), room.event_id)
    await watcher.start()
    try:
        shown = ok(await alice.call("qa.ask", _ask(room, "Shown")))
        await wait_for(lambda: watcher.texts(room.session_id) == ["Shown"], what="the question")
        approval = {"event_id": room.event_id, "require_approval": True}
        ok(await room.organizer.call("qa.settings", approval))
        ok(await alice.call("qa.ask", _ask(room, "Never approved")))
        hide = {"event_id": room.event_id, "question_id": shown["id"], "action": "hide"}
        ok(await room.organizer.call("qa.moderate", hide))
        await wait_for(
            lambda: watcher.texts(room.session_id) == [], what="the hidden question gone"
        )
        later = ok(await alice.call("qa.ask", _ask(room, "Approved later")))
        approve = {"event_id": room.event_id, "question_id": later["id"], "action": "approve"}
        ok(await room.organizer.call("qa.moderate", approve))
        ok(await alice.call("qa.upvote", {"event_id": room.event_id, "question_id": later["id"]}))
        await wait_for(
            lambda: (
                [(q["text"], q["votes"]) for q in watcher.lists[room.session_id]]
                == [("Approved later", 1)]
            ),
            what="the approved one, upvoted",
        )
        # A late subscriber's snapshot holds the same: the visible list only.
        late = Watcher(await room.attendee("late"), room.event_id)
        await late.start()
        await late.close()
        assert late.texts(room.session_id) == ["Approved later"]
        # An organizer subscribing gets the room's view too (pending ones via qa.list).
        boss = Watcher(room.organizer, room.event_id)
        await boss.start()
        await boss.close()
        assert boss.texts(room.session_id) == ["Approved later"]
        assert "Never approved" not in watcher.seen | late.seen | boss.seen
    finally:
        await watcher.close()


async def test_a_storm_of_upvotes_is_coalesced_into_whole_lists(
    room: Room, workers: Settings
) -> None:
    """Two qa workers tick; the channel still gets at most five lists a second."""
    stop = asyncio.Event()
    extra = asyncio.get_running_loop().create_task(run_workers(workers, ["qa"], stop))
    try:
        await workers_answer(workers, ["qa"], running=extra)
        await _storm(room)
    finally:
        stop.set()
        await arrives(extra, what="the extra qa worker to stop")


async def _storm(room: Room) -> None:
    asker = await room.attendee("asker")
    question = ok(await asker.call("qa.ask", _ask(room, "Coffee break?")))
    watcher = Watcher(await room.attendee("watcher"), room.event_id)
    await watcher.start()
    voters = [await room.attendee(f"voter-{n}") for n in range(40)]
    try:
        started = time.perf_counter()
        upvote = {"event_id": room.event_id, "question_id": question["id"]}
        replies = await asyncio.gather(*(v.call("qa.upvote", upvote) for v in voters))
        assert all(r["op"] == "result" for r in replies), replies

        def final_votes() -> bool:
            listed = watcher.lists.get(room.session_id, [])
            return bool(listed) and listed[0]["votes"] == 40

        await wait_for(final_votes, what="40 votes on the channel")
        elapsed = time.perf_counter() - started
        # At most five lists a second per session: a rate, not a speed (a slow run only
        # lengthens `elapsed`), and well below one publication per upvote.
        assert watcher.publications <= 5 * (elapsed + 1), (watcher.publications, elapsed)
    finally:
        await watcher.close()
