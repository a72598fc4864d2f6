"""A session to run polls in, poll shortcuts, and a subscriber that keeps the polls
channel applied (snapshot, then each publication's full state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.allocation.helpers import error, ok
from tests.hub.helpers import Raw, create_event
from tests.waiting import WAIT_S, arrives

__all__ = ["PollsView", "error", "make_poll", "make_session", "ok", "vote"]


async def make_session(organizer: Raw) -> tuple[int, int]:
    """A new event and a session in it: (event_id, session_id)."""
    event_id = await create_event(organizer)
    session = ok(
        await organizer.call(
            "sessions.create", {"event_id": event_id, "title": "Keynote", "room": "Hall A"}
        )
    )
    return event_id, int(session["id"])


async def make_poll(
    organizer: Raw, session_id: int, kind: str, *, open_: bool = True, **definition: Any
) -> dict[str, Any]:
    """A poll of `kind` (opened unless `open_` is false), as the organizer sees it."""
    params = {"session_id": session_id, "question": f"A {kind} question?", "kind": kind}
    poll = ok(await organizer.call("polls.create", {**params, **definition}))
    if open_:
        poll = ok(await organizer.call("polls.open", {"poll_id": poll["id"]}))
    return dict(poll)


async def vote(raw: Raw, poll_id: int, choice: Any) -> dict[str, Any]:
    """The rpc reply to a vote."""
    return await raw.call("polls.vote", {"poll_id": poll_id, "choice": choice})


@dataclass
class PollsView:
    """What one subscriber of `event.{id}.polls` knows: each poll's latest state."""

    raw: Raw
    channel: str
    polls: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    other: list[dict[str, Any]] = field(default_factory=list)  # leaderboards

    @classmethod
    async def start(cls, raw: Raw, event_id: int) -> PollsView:
        view = cls(raw, f"event.{event_id}.polls")
        reply = await raw.subscribe(view.channel)
        assert reply["op"] == "subscribed", reply
        for poll in reply["snapshot"]["polls"]:
            view.polls[poll["id"]] = poll
        return view

    def _apply(self, data: dict[str, Any]) -> None:
        if data["type"] == "poll":
            self.polls[data["poll"]["id"]] = data["poll"]
        elif data["type"] == "poll_deleted":
            self.polls.pop(data["poll_id"], None)
            self.deleted.add(data["poll_id"])
        else:
            self.other.append(data)

    async def until(
        self, check: Callable[[PollsView], bool], what: str, timeout: float = WAIT_S
    ) -> PollsView:
        """Apply publications until `check` holds."""

        async def loop() -> PollsView:
            while not check(self):
                message = await self.raw.until("pub", timeout)
                if message["channel"] == self.channel:
                    self._apply(message["data"])
            return self

        return await arrives(loop(), what=what, timeout=timeout)
