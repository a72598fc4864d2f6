"""A hub shutting down answers what it is working on before it says `reconnect`.

docs/protocol.md §Disconnects. The worker here is a real NATS responder on
the command's subject, held until the test lets it answer, so a request is
certainly in flight when the hub starts its goodbye.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats
from nats.aio.msg import Msg

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.commands import encode_reply
from bilten.protocol.subjects import Subjects
from tests.hub.helpers import connect
from tests.waiting import arrives

GOODBYE = {"op": "disconnect", "code": "reconnect", "reason": "hub shutting down"}


async def test_a_request_in_flight_is_answered_before_the_reconnect(
    migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    assert migrated.nats_url
    subjects = Subjects(migrated.namespace)
    nc = await nats.connect(migrated.nats_url)
    held: asyncio.Queue[Msg] = asyncio.Queue()
    await nc.subscribe(
        subjects.command("events.list"), queue=subjects.queue_group("events"), cb=held.put
    )
    try:
        server = await aiohttp_server(create_app(migrated))
        client = await aiohttp_client(server)
        busy = await connect(client, make_token("organizer"))
        idle = await connect(client, make_token("organizer"))
        asked = await busy.send(op="rpc", method="events.list", params={})
        request = await arrives(held.get(), what="the request at the worker")

        closing = asyncio.ensure_future(server.close())
        assert await idle.recv() == GOODBYE  # nothing in flight: told at once
        assert not closing.done()
        await request.respond(encode_reply({"events": ["answered"]}))
        reply = await busy.recv()
        assert reply == {"op": "result", "id": asked, "result": {"events": ["answered"]}}
        assert await busy.recv() == GOODBYE
        for peer in (idle, busy):
            await peer.ws.close()
        await arrives(closing, what="the hub to finish shutting down")
    finally:
        await nc.close()
