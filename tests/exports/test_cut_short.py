"""Downloads that end early (docs/insight.md §How an export streams): an export that
cannot go on ends without the final chunk, so the client sees an incomplete body and
never a file that looks whole; a client that leaves is no error of the hub's.

The client here is a plain socket with a small receive buffer that reads only when
told, and the export (100,000 rows of JSON, 23 MB) is larger than the socket
buffers on both sides can grow to: so the hub is surely mid-export, waiting on
the client, when the test acts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.workers.main import run_workers
from bilten.workers.registry import WORKERS
from tests.checkin.helpers import door_setup
from tests.exports.test_memory import seed
from tests.hub.helpers import connect
from tests.ready import workers_answer
from tests.waiting import arrives, wait_for

TERMINATING_CHUNK = b"\r\n0\r\n\r\n"


async def _slow_download(
    address: tuple[str, int], path: str, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A GET of `path` on a socket that buffers little; the status line is read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 14)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, address)
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 14)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {address[0]}\r\nAuthorization: Bearer {token}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    status = await arrives(reader.readline(), what="the status line")
    assert status.startswith(b"HTTP/1.1 200"), status
    head = await arrives(reader.readuntil(b"\r\n\r\n"), what="the headers")
    assert b"Transfer-Encoding: chunked" in head, head
    return reader, writer


async def _rest(reader: asyncio.StreamReader) -> bytes:
    """Everything until the hub closes the connection."""
    body = b""
    try:
        while chunk := await reader.read(1 << 16):
            body += chunk
    except ConnectionResetError:  # a connection cut rather than closed
        pass
    return body


async def test_workers_gone_mid_export_cut_the_download(
    migrated: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    stop = asyncio.Event()
    running = asyncio.get_running_loop().create_task(run_workers(migrated, sorted(WORKERS), stop))
    await workers_answer(migrated, sorted(WORKERS), running=running)
    server = await aiohttp_server(create_app(migrated))
    token = make_token("organizer")
    try:
        door = await door_setup(await connect(await aiohttp_client(server), token), count=1)
        await seed(migrated, door.event_id, door.type_id, 100_000 - 1)
        path = f"/api/v1/events/{door.event_id}/exports/tickets.json"
        reader, writer = await _slow_download((server.host, server.port), path, token)
        assert b'{"ticket_id":' in await arrives(reader.read(1 << 12), what="a first chunk")
    finally:
        stop.set()
        await arrives(running, what="the workers to stop")
    body = await arrives(_rest(reader), what="the hub to give up")
    writer.close()
    assert not body.endswith(TERMINATING_CHUNK)
    assert b"\n]\n" not in body


async def test_a_client_that_leaves_mid_export_is_no_error(
    make_token: Any, workers: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Served as `bilten hub` serves (aiohttp's test server cancels the handler instead).
    runner = web.AppRunner(create_app(workers))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        assert runner.addresses
        host, port = runner.addresses[0][:2]
        token = make_token("organizer")
        async with aiohttp.ClientSession(base_url=f"http://{host}:{port}") as session:
            door = await door_setup(await connect(session, token), count=1)
        await seed(workers, door.event_id, door.type_id, 100_000 - 1)
        path = f"/api/v1/events/{door.event_id}/exports/tickets.json"
        with caplog.at_level(logging.INFO, logger="bilten.hub.exports"):
            reader, writer = await _slow_download((host, port), path, token)
            assert b'{"ticket_id":' in await arrives(reader.read(1 << 12), what="a first chunk")
            writer.transport.abort()  # the browser tab closed

            def abandoned() -> bool:
                return any("abandoned" in r.getMessage() for r in caplog.records)

            await wait_for(abandoned, what="the hub to notice the client left")
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        await runner.cleanup()
