"""Hostile handshakes against a real hub (hub/ws.py, protocol/handshake.py).

Requests that are not quite WebSocket upgrades get the refusals of
docs/protocol.md §Connecting; the socket changes hands from aiohttp after
plain requests on a keep-alive connection and with a burst of frames right
behind the request; and a hub process under SIGTERM still says `reconnect`
to every socket it took over.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import struct
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
from websockets.frames import Opcode

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.tokens import encode_token, mint_claims
from tests.hub.peers import Peer, answer, masked, opened, ping_op, upgrade
from tests.ready import free_port, hub_answers, spawn_hub
from tests.waiting import arrives


async def test_handshakes_that_are_not_quite_websocket_upgrades(
    migrated: Settings, aiohttp_server: Any, make_token: Any, secret: str
) -> None:
    """RFC 6455 §4.2.1-2: each refused with its status and code; the near misses that are
    fine (a Connection list, an extension or subprotocol asked for) upgrade without them."""
    settings = migrated.replace(allowed_origins=("https://tickets.example",))
    server = await aiohttp_server(create_app(settings))
    token = make_token("organizer")
    good = upgrade(server, token)
    key = "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode() + "\r\n"

    def code(body: bytes) -> str:
        return str(orjson.loads(body)["error"]["code"])

    status, headers, body = await answer(server, good.replace(b"Version: 13", b"Version: 8"))
    assert (status, code(body)) == (426, "upgrade_required")
    assert headers["sec-websocket-version"] == "13"  # §4.2.2: the versions the server speaks
    status, _, body = await answer(server, upgrade(server, token, extra=key))
    assert (status, code(body)) == (400, "bad_request"), "two Sec-WebSocket-Key fields (§11.3.1)"
    status, _, body = await answer(server, upgrade(server, token, version="HTTP/1.0"))
    assert (status, code(body)) == (400, "bad_request"), "HTTP/1.0 (§4.2.1: 1.1 or higher)"
    status, _, _ = await answer(server, good.replace(b"GET ", b"HEAD ", 1))
    assert status == 400, "HEAD (§4.2.1: a GET)"
    no_key = b"\r\n".join(li for li in good.split(b"\r\n") if not li.startswith(b"Sec-WebSocket-K"))
    status, _, body = await answer(server, no_key)
    assert (status, code(body)) == (400, "bad_request")
    evil = upgrade(server, token, extra="Origin: https://evil.example\r\n")
    status, _, body = await answer(server, evil)
    assert (status, code(body)) == (403, "forbidden")
    claims = mint_claims(
        sub="organizer-1", org="acme", role="organizer", events="*", ttl_s=1, now=time.time() - 60
    )
    expired = upgrade(server, encode_token(claims, secret))
    status, _, body = await answer(server, expired)
    assert (status, code(body)) == (401, "token_expired")
    huge = upgrade(server, token, extra=f"X-Pad: {'x' * 100_000}\r\n")
    status, _, _ = await answer(server, huge)
    assert 400 <= status < 500

    fine = [
        good.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"),
        upgrade(server, token, extra="Origin: https://tickets.example\r\n"),
        upgrade(server, token, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        upgrade(server, token, extra="Sec-WebSocket-Protocol: chat\r\n"),
    ]
    for request in fine:
        status, headers, _ = await answer(server, request)
        assert status == 101, request
        assert "sec-websocket-extensions" not in headers  # nothing negotiated, nothing claimed
        assert "sec-websocket-protocol" not in headers


async def test_an_upgrade_on_a_keep_alive_connection_after_plain_requests(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """The socket changes hands after other requests on it, sent one by one or all in one packet."""
    server = await aiohttp_server(create_app(migrated))
    plain = f"GET / HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n\r\n".encode()
    token = make_token("organizer")
    for pipelined in (False, True):
        peer = await Peer.dial(server)
        try:
            ping = masked(Opcode.TEXT, ping_op(7))
            if pipelined:
                await peer.send(plain + plain + upgrade(server, token) + ping)
            for _ in range(2):
                if not pipelined:
                    await peer.send(plain)
                head = await peer.head()
                assert head.startswith(b"HTTP/1.1 200 "), head
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                assert orjson.loads(await arrives(peer.exactly(length), what="a body"))["links"]
            if not pipelined:
                await peer.send(upgrade(server, token) + ping)
            assert (await peer.head()).startswith(b"HTTP/1.1 101 ")
            assert await peer.message() == [{"op": "pong", "id": 7}]
        finally:
            peer.close()
    # Plain requests on a keep-alive connection go on beside the sockets the hub took over.
    peer = await opened(server, token)
    try:
        async with aiohttp.ClientSession(f"http://{server.host}:{server.port}") as http:
            for _ in range(3):
                async with http.get("/") as resp:
                    assert resp.status == 200 and (await resp.json())["links"]["ws"] == "/ws"
        await peer.send(masked(Opcode.TEXT, ping_op(8)))
        assert await peer.message() == [{"op": "pong", "id": 8}]
    finally:
        peer.close()


async def test_a_burst_right_behind_the_upgrade_request_is_read_in_full(
    migrated: Settings, aiohttp_server: Any, make_token: Any
) -> None:
    """Far more than aiohttp buffers before pausing the socket arrives before the 101 goes out:
    the socket must be reading again once it is the hub's."""
    server = await aiohttp_server(create_app(migrated))
    peer = await Peer.dial(server)
    try:
        pings = 2400  # ~300 KiB, beyond aiohttp's 64 KiB read buffer
        await peer.send(
            upgrade(server, make_token("organizer"))
            + masked(Opcode.PING, b"p" * 125) * pings
            + masked(Opcode.TEXT, ping_op(9))
        )
        assert (await peer.head()).startswith(b"HTTP/1.1 101 ")
        for _ in range(pings):
            assert await peer.frame() == (0x8A, b"p" * 125)
        assert await peer.message() == [{"op": "pong", "id": 9}]
    finally:
        peer.close()


async def test_sigterm_on_a_hub_process_says_reconnect_to_every_socket(
    migrated: Settings, make_token: Any
) -> None:
    """`bilten hub` as in production (uvloop, its own signal handling): SIGTERM sends every
    taken-over socket `disconnect reconnect` and 4009, mid-message or not, and the process
    ends, cutting a client that never answers after the linger."""
    port = free_port()
    hub = spawn_hub(migrated.replace(port=port))
    server = SimpleNamespace(host="127.0.0.1", port=port)
    peers: list[Peer] = []
    try:
        await hub_answers(hub, f"http://127.0.0.1:{port}/healthz")
        token = make_token("organizer")
        for n in range(3):
            peer = await opened(server, token)
            await peer.send(masked(Opcode.TEXT, ping_op(n)))
            assert await peer.message() == [{"op": "pong", "id": n}]
            peers.append(peer)
        await peers[1].send(masked(Opcode.TEXT, b"[", fin=False))  # a message left half sent
        silent = await opened(server, token, rcvbuf=4096)  # reads nothing, never closes
        hub.send_signal(signal.SIGTERM)
        for peer in peers:
            assert await peer.message() == [
                {"op": "disconnect", "code": "reconnect", "reason": "hub shutting down"}
            ]
            assert await peer.close_code() == 4009
            await peer.send(masked(Opcode.CLOSE, struct.pack("!H", 4009)))
        assert await arrives(asyncio.to_thread(hub.wait), what="the hub process to exit") == 0
        silent.close()
    finally:
        for peer in peers:
            peer.close()
        if hub.poll() is None:
            hub.kill()
            hub.wait()
