"""Q&A and reactions tests: sessions made in one place, and clients for the qa channels.

Sessions belong to the engagement worker: `make_session` makes them with
`sessions.create`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bilten.infra.settings import Settings
from tests.hub.helpers import Raw, connect, create_event


async def make_session(organizer: Raw, event_id: int, title: str = "Keynote") -> int:
    """A session of the event, made with `sessions.create` by the organizer's socket."""
    reply = await organizer.call("sessions.create", {"event_id": event_id, "title": title})
    assert reply["op"] == "result", reply
    return int(reply["result"]["id"])


class Room:
    """An event with one session, an organizer's socket and a way to seat attendees."""

    def __init__(self, client: Any, make_token: Any, organizer: Raw, event_id: int) -> None:
        self.client = client
        self.make_token = make_token
        self.organizer = organizer
        self.event_id = event_id
        self.session_id = 0
        self.sockets: list[Raw] = [organizer]

    async def attendee(self, sub: str, client: Any = None) -> Raw:
        token = self.make_token("attendee", sub=sub, events=[self.event_id])
        raw = await connect(client or self.client, token)
        self.sockets.append(raw)
        return raw

    async def close(self) -> None:
        for raw in self.sockets:
            await raw.ws.close()


@pytest.fixture
async def room(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> AsyncIterator[Room]:
    """An event with a session on a hub with every worker running."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    made = Room(client, make_token, organizer, event_id)
    made.session_id = await make_session(organizer, event_id)
    yield made
    await made.close()


def ok(reply: dict[str, Any]) -> Any:
    """The result of an rpc reply (fails the test on an error)."""
    assert reply["op"] == "result", reply
    return reply["result"]


def error(reply: dict[str, Any]) -> dict[str, Any]:
    """The error of an rpc reply (fails the test on a result)."""
    assert reply["op"] == "error", reply
    return dict(reply["error"])
