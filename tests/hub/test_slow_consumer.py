"""A stalled client is cut off as slow; a hundred others keep receiving everything."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import orjson

from bilten.hub.app import create_app
from bilten.hub.runtime import HUB
from bilten.infra.settings import Settings
from tests.hub.helpers import Raw, connect, create_event
from tests.waiting import WAIT_S, wait_for


async def test_stalled_client_is_disconnected_while_others_receive(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    settings = workers.replace(
        send_buffer_bytes=64 * 1024,
        slow_consumer_grace_s=0.5,
        rate_limit_per_s=10_000.0,
        rate_limit_burst=10_000,
    )
    server = await aiohttp_server(create_app(settings))
    client = await aiohttp_client(server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    token = make_token("attendee", events=[event_id])

    # The stalled client: a raw socket that completes the handshake, then never reads.
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    stalled.connect((server.host, server.port))
    stalled.sendall(
        f"GET /ws?token={token} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await wait_for(
        lambda: len(server.app[HUB].connections) == 2, what="the stalled client's handshake"
    )
    payload = orjson.dumps({"op": "subscribe", "id": 1, "channel": channel})
    mask = b"\x00\x00\x00\x00"
    stalled.sendall(bytes((0x81, 0x80 | len(payload))) + mask + payload)

    # Loopback buffers megabytes in the kernel; shrink the server side of this one
    # socket so its backlog shows up in the hub's transport, as on a congested link.
    (conn,) = await wait_for(
        lambda: [c for c in server.app[HUB].connections if c.subs],
        what="the stalled client's subscription",
    )
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    others: list[Raw] = []
    session = aiohttp.ClientSession()
    try:
        for _ in range(100):
            ws = await session.ws_connect(f"http://{server.host}:{server.port}/ws?token={token}")
            raw = Raw(ws)
            assert (await raw.subscribe(channel))["op"] == "subscribed"
            others.append(raw)
        blob = "x" * 2000
        count = 200
        for n in range(count):
            reply = await organizer.call(
                "channels.publish", {"channel": channel, "data": {"n": n, "blob": blob}}
            )
            assert reply["op"] == "result", reply

        async def drain(raw: Raw) -> list[int]:
            return [(await raw.until("pub", timeout=WAIT_S))["data"]["n"] for _ in range(count)]

        results = await asyncio.gather(*(drain(raw) for raw in others))
        assert all(got == list(range(count)) for got in results)

        async def cut_off() -> bool:
            metrics = await (await client.get("/metrics")).text()
            return 'bilten_ws_disconnects_total{reason="slow_consumer"} 1.0' in metrics

        await wait_for(cut_off, what="the stalled client cut off as slow")
    finally:
        for raw in others:
            await raw.ws.close()
        await session.close()
        stalled.close()
