"""The hub answers the upgrade itself and reads its own sockets (hub/ws.py, hub/reader.py).

What that must keep: refusals with a stable code, bytes sent right behind the
upgrade request, nothing of aiohttp's request alive while the socket is, and
a shutdown that still tells every client to reconnect.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from websockets.frames import Frame, Opcode

from bilten.hub.app import create_app
from bilten.hub.runtime import HUB
from bilten.infra.settings import Settings
from tests.hub.helpers import connect
from tests.waiting import WAIT_S, arrives


def upgrade_request(server: Any, token: str) -> bytes:
    """An RFC 6455 upgrade request, written by hand: the tests decide what follows it."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws?token={token} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def test_a_get_that_is_not_an_upgrade_is_a_bad_request(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    resp = await client.get(f"/ws?token={make_token('organizer')}")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_request"
    # The token is judged first: without one, the answer stays unauthorized.
    resp = await client.get("/ws")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_frames_sent_with_the_upgrade_request_are_read(
    hub_server: Any, make_token: Any
) -> None:
    """A client that does not wait for the 101: its first frames ride in the same packet."""
    request = upgrade_request(hub_server, make_token("organizer"))
    pings = b"".join(
        Frame(Opcode.TEXT, orjson.dumps({"op": "ping", "id": n})).serialize(mask=True)
        for n in (1, 2)
    )
    reader, writer = await asyncio.open_connection(hub_server.host, hub_server.port)
    try:
        writer.write(request + pings)
        head = await arrives(reader.readuntil(b"\r\n\r\n"), what="the 101 response")
        assert head.startswith(b"HTTP/1.1 101 ")
        got: list[dict[str, Any]] = []
        while len(got) < 2:
            first, length = await arrives(reader.readexactly(2), what="a frame header")
            assert first == 0x81 and length < 126  # unmasked final text frames
            body = orjson.loads(await arrives(reader.readexactly(length), what="a frame"))
            got.extend(body if isinstance(body, list) else [body])
        assert got == [{"op": "pong", "id": 1}, {"op": "pong", "id": 2}]
    finally:
        writer.close()


async def test_an_unmasked_client_frame_closes_with_1002(hub_server: Any, make_token: Any) -> None:
    """RFC 6455 §5.1: a server must close on a client frame that is not masked."""
    request = upgrade_request(hub_server, make_token("organizer"))
    reader, writer = await asyncio.open_connection(hub_server.host, hub_server.port)
    try:
        writer.write(request)
        head = await arrives(reader.readuntil(b"\r\n\r\n"), what="the 101 response")
        assert head.startswith(b"HTTP/1.1 101 ")
        writer.write(Frame(Opcode.TEXT, b'{"op":"ping","id":1}').serialize(mask=False))
        first, length = await arrives(reader.readexactly(2), what="a frame header")
        body = await arrives(reader.readexactly(length), what="the close frame")
        assert first == 0x88 and int.from_bytes(body[:2], "big") == 1002
    finally:
        writer.close()


async def test_no_request_outlives_the_handshake(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Idle sockets hold no aiohttp request, response or handler task (issue 10: memory)."""
    client = await aiohttp_client(hub_server)
    raws = [await connect(client, make_token("organizer")) for _ in range(5)]
    for raw in raws:
        await raw.send(op="ping", id=1)
        assert await raw.recv() == {"op": "pong", "id": 1}
    assert len(hub_server.app[HUB].connections) == 5
    gc.collect()
    requests = [o for o in gc.get_objects() if isinstance(o, web.BaseRequest) and o.path == "/ws"]
    responses = [o for o in gc.get_objects() if isinstance(o, web.WebSocketResponse)]
    assert requests == [] and responses == []


async def test_shutdown_tells_every_client_to_reconnect(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    server = await aiohttp_server(create_app(workers))
    client = await aiohttp_client(server)
    raws = [await connect(client, make_token("organizer")) for _ in range(3)]
    closing = asyncio.get_running_loop().create_task(server.close())
    for raw in raws:
        assert (await raw.until("disconnect"))["code"] == "reconnect"
        msg = await raw.ws.receive(timeout=WAIT_S)
        assert msg.type == aiohttp.WSMsgType.CLOSE and raw.ws.close_code == 4009
    await arrives(closing, what="the hub's shutdown")
    assert not server.app[HUB].connections
