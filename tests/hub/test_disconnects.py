"""The hub's documented closes reach real clients: the `disconnect` frame, then the close code.

docs/protocol.md §Disconnect codes: a flood ends in `rate_limited` (4029), a
stream of invalid messages in `protocol_error` (4000), a client that falls
behind in `slow_consumer` (4008), a frame over the size limit in 1009 (one
not UTF-8 in 1007), each even while the client goes on sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Opcode
from websockets.uri import parse_uri

from bilten.hub.app import create_app
from bilten.hub.runtime import HUB
from bilten.hub.session import FLOOD_FACTOR, MAX_INVALID_IN_A_ROW
from bilten.infra.settings import Settings
from tests.hub.helpers import Raw, connect, create_event
from tests.waiting import WAIT_S


async def _closed_with(raw: Raw, code: str, close_code: int) -> None:
    """Read on to the `disconnect` frame, then expect the close with `close_code`."""
    assert (await raw.until("disconnect"))["code"] == code
    msg = await raw.ws.receive(timeout=WAIT_S)
    assert msg.type == aiohttp.WSMsgType.CLOSE, msg
    assert raw.ws.close_code == close_code


async def test_flood_is_answered_then_disconnected_with_rate_limited(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    burst = 10
    app = create_app(workers.replace(rate_limit_per_s=5.0, rate_limit_burst=burst))
    client = await aiohttp_client(await aiohttp_server(app))
    raw = await connect(client, make_token("organizer"))
    # Over the limit, but within the flood allowance: answered, and the connection goes on.
    await raw.ws.send_bytes(orjson.dumps([{"op": "ping", "id": n} for n in range(3 * burst)]))
    got = [await raw.recv() for _ in range(3 * burst)]
    assert [m["error"]["code"] for m in got if m["op"] == "error"] == ["rate_limited"] * 2 * burst
    # Past the allowance (FLOOD_FACTOR bursts of rejected messages): cut off, and the
    # frame and close code arrive although the client goes on sending all the while.
    flood = orjson.dumps([{"op": "ping", "id": n} for n in range(FLOOD_FACTOR * burst)])

    async def keep_flooding() -> None:
        with contextlib.suppress(ConnectionError):
            while not raw.ws.closed:
                await raw.ws.send_bytes(flood)
                await asyncio.sleep(0)  # let the reader run

    flooder = asyncio.get_running_loop().create_task(keep_flooding())
    try:
        await _closed_with(raw, "rate_limited", 4029)
    finally:
        await flooder


async def test_disconnect_reaches_a_client_that_keeps_sending(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Token expiry, from the sweep while the client sends: the hub reads on until the close."""
    app = create_app(workers.replace(rate_limit_per_s=1e6, rate_limit_burst=1_000_000))
    client = await aiohttp_client(await aiohttp_server(app))
    # `exp` is in whole seconds: a 1 s token could expire before the handshake.
    raw = await connect(client, make_token("organizer", ttl_s=3))
    pings = orjson.dumps([{"op": "ping", "id": n} for n in range(100)])

    async def keep_sending() -> None:
        with contextlib.suppress(ConnectionError):
            while not raw.ws.closed:
                await raw.ws.send_bytes(pings)
                await asyncio.sleep(0)  # let the reader run

    sender = asyncio.get_running_loop().create_task(keep_sending())
    try:
        await _closed_with(raw, "token_expired", 4001)
    finally:
        await sender


async def test_invalid_messages_in_a_row_disconnect_with_protocol_error(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    raw = await connect(client, make_token("organizer"))
    garbage = [
        b"{not json",
        b"42",
        orjson.dumps({"op": "dance", "id": 1}),
        orjson.dumps({"op": "ping", "id": "x"}),
    ]
    # One short of the limit, then a valid message: the count starts over.
    for n in range(MAX_INVALID_IN_A_ROW - 1):
        await raw.ws.send_bytes(garbage[n % len(garbage)])
        assert (await raw.recv())["op"] == "error"
    await raw.send(op="ping", id=7)
    assert await raw.recv() == {"op": "pong", "id": 7}
    for n in range(MAX_INVALID_IN_A_ROW):
        await raw.ws.send_bytes(garbage[n % len(garbage)])
    await _closed_with(raw, "protocol_error", 4000)


async def test_a_batch_of_invalid_messages_is_a_protocol_error(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    raw = await connect(client, make_token("organizer"))
    await raw.ws.send_bytes(
        orjson.dumps([{"op": "dance", "id": n} for n in range(MAX_INVALID_IN_A_ROW)])
    )
    await _closed_with(raw, "protocol_error", 4000)


async def test_oversize_frames_always_close_with_1009(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Both client libraries, many times: the close code never turns into 1006."""
    server = await aiohttp_server(create_app(workers.replace(max_frame_bytes=2048)))
    client = await aiohttp_client(server)
    url = f"ws://{server.host}:{server.port}/ws?token={make_token('organizer')}"
    big = orjson.dumps({"op": "ping", "id": 1, "pad": "x" * 8 * 1024 * 1024})
    for _ in range(6):
        raw = await connect(client, make_token("organizer"))
        await raw.ws.send_bytes(big)
        msg = await raw.ws.receive(timeout=WAIT_S)
        assert msg.type == aiohttp.WSMsgType.CLOSE, msg
        assert raw.ws.close_code == 1009

        async with ws_connect(url, max_size=None, close_timeout=WAIT_S) as ws:
            await ws.send(big)
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    other = await connect(client, make_token("organizer"))
    await other.send(op="ping", id=1)
    assert await other.recv() == {"op": "pong", "id": 1}


async def test_slow_consumer_gets_its_disconnect_frame_and_4008(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """A client stalls until the hub drops it, then reads: its backlog, `disconnect`, 4008."""
    settings = workers.replace(
        send_buffer_bytes=64 * 1024,
        slow_consumer_grace_s=0.2,
        rate_limit_per_s=10_000.0,
        rate_limit_burst=10_000,
    )
    server = await aiohttp_server(create_app(settings))
    organizer = await connect(await aiohttp_client(server), make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    token = make_token("attendee", events=[event_id])
    loop = asyncio.get_running_loop()

    # A websockets client without I/O of its own: the test decides when the socket is read.
    client = ClientProtocol(
        parse_uri(f"ws://{server.host}:{server.port}/ws?token={token}"), max_size=None
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (server.host, server.port))
        client.send_request(client.connect())
        await loop.sock_sendall(sock, b"".join(client.data_to_send()))
        while client.handshake_exc is None and not client.events_received():
            client.receive_data(await loop.sock_recv(sock, 65536))
        assert client.handshake_exc is None
        client.send_text(orjson.dumps({"op": "subscribe", "id": 1, "channel": channel}))
        await loop.sock_sendall(sock, b"".join(client.data_to_send()))
        async with asyncio.timeout(WAIT_S):
            while not (events := client.events_received()):
                client.receive_data(await loop.sock_recv(sock, 65536))
        assert orjson.loads(events[0].data)["op"] == "subscribed"

        (conn,) = [c for c in server.app[HUB].connections if c.subs]
        # Shrink the hub's side too, so the backlog shows in its transport (see
        # test_slow_consumer.py), then publish until the hub gives up on this client.
        conn.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
        )
        blob = "x" * 2000
        async with asyncio.timeout(WAIT_S):
            while not conn.closed:
                reply = await organizer.call(
                    "channels.publish", {"channel": channel, "data": {"blob": blob}}
                )
                assert reply["op"] == "result", reply
        assert conn.close_reason == "slow_consumer"

        # Now read everything the hub wrote, to the end of the stream.
        async with asyncio.timeout(WAIT_S):
            while chunk := await loop.sock_recv(sock, 1 << 20):
                client.receive_data(chunk)
        client.receive_eof()
    finally:
        sock.close()
    messages: list[dict[str, Any]] = []
    for frame in client.events_received():
        if frame.opcode == Opcode.TEXT:
            decoded = orjson.loads(frame.data)
            messages.extend(decoded if isinstance(decoded, list) else [decoded])
    assert {m["op"] for m in messages[:-1]} == {"pub"}
    assert messages[-1] == {
        "op": "disconnect",
        "code": "slow_consumer",
        "reason": messages[-1]["reason"],
    }
    assert client.close_rcvd is not None and client.close_rcvd.code == 4008


async def test_text_that_is_not_utf8_closes_with_1007(hub_server: Any, make_token: Any) -> None:
    url = f"ws://{hub_server.host}:{hub_server.port}/ws?token={make_token('organizer')}"
    async with ws_connect(url, close_timeout=WAIT_S) as ws:
        await ws.send(b'{"op":"ping","id":1,"x":"\xff"}', text=True)
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
