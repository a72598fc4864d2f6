"""A hub shutting down answers what it is working on before it says `reconnect`.

docs/protocol.md §Disconnect codes. The worker here is a real NATS responder
on the command's subject, held until the test lets it answer, so a request is
certainly in flight when the hub starts its goodbye.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.commands import encode_reply
from bilten.protocol.subjects import Subjects
from tests.hub.helpers import Raw, connect, frames_in
from tests.waiting import arrives, wait_for

GOODBYE = {"op": "disconnect", "code": "reconnect", "reason": "hub shutting down"}
ANSWER = {"events": ["answered"]}


@pytest.fixture
async def held(migrated: Settings) -> AsyncIterator[asyncio.Queue[Msg]]:
    """`events.list` requests as they reach the stand-in worker, unanswered until the test says."""
    assert migrated.nats_url
    subjects = Subjects(migrated.namespace)
    nc = await nats.connect(migrated.nats_url)
    requests: asyncio.Queue[Msg] = asyncio.Queue()
    await nc.subscribe(
        subjects.command("events.list"), queue=subjects.queue_group("events"), cb=requests.put
    )
    try:
        yield requests
    finally:
        await nc.close()


@dataclass
class Goodbye:
    """A hub told to stop (`closing`) while `busy` has a request held at the worker."""

    server: Any
    busy: Raw
    idle: Raw
    asked: int  # the id of busy's request
    request: Msg  # that request at the worker
    closing: asyncio.Future[None]

    async def finish(self) -> None:
        for peer in (self.idle, self.busy):
            await peer.ws.close()
        await arrives(self.closing, what="the hub to finish shutting down")


@pytest.fixture
async def goodbye(
    migrated: Settings,
    held: asyncio.Queue[Msg],
    aiohttp_server: Any,
    aiohttp_client: Any,
    make_token: Any,
) -> Goodbye:
    server = await aiohttp_server(create_app(migrated))
    client = await aiohttp_client(server)
    busy = await connect(client, make_token("organizer"))
    idle = await connect(client, make_token("organizer"))
    asked = await busy.send(op="rpc", method="events.list", params={})
    request = await arrives(held.get(), what="the request at the worker")
    closing = asyncio.ensure_future(server.close())
    assert await idle.recv() == GOODBYE  # nothing in flight: told at once
    assert not closing.done()
    return Goodbye(server, busy, idle, asked, request, closing)


async def test_a_request_in_flight_is_answered_before_the_reconnect(goodbye: Goodbye) -> None:
    await goodbye.request.respond(encode_reply(ANSWER))
    assert await goodbye.busy.recv() == {"op": "result", "id": goodbye.asked, "result": ANSWER}
    assert await goodbye.busy.recv() == GOODBYE
    await goodbye.finish()


async def test_what_a_leaving_client_sends_is_not_run(
    goodbye: Goodbye, held: asyncio.Queue[Msg]
) -> None:
    """Once the goodbye has begun, a request read from a client is dropped, not run: the
    `reconnect` that follows tells the client to send it again elsewhere."""
    before = frames_in(goodbye.server)
    await goodbye.busy.send(op="rpc", method="events.list", params={})
    await wait_for(lambda: frames_in(goodbye.server) > before, what="the hub to read it")
    await goodbye.request.respond(encode_reply(ANSWER))
    assert await goodbye.busy.recv() == {"op": "result", "id": goodbye.asked, "result": ANSWER}
    assert await goodbye.busy.recv() == GOODBYE  # at once: the late request is not in flight
    assert held.empty()  # and never reached a worker
    await goodbye.finish()
