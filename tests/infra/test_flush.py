"""`flush` (infra/flush.py): a PING/PONG round trip its caller may give up on safely.

With nats-py's own `Client.flush`, a caller cancelled mid-wait left a cancelled
future for the PONG, and the PONG then killed the client's read loop: no reply
or delivery reached the process again (a WebSocket closed mid subscribe did it
to a hub).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from bilten.infra.flush import flush
from bilten.infra.settings import Settings
from tests.waiting import WAIT_S


@pytest.fixture
async def nc(settings: Settings) -> AsyncIterator[NATS]:
    assert settings.nats_url
    client = await nats.connect(settings.nats_url)
    try:
        yield client
    finally:
        await client.close()


async def _still_hears(nc: NATS, subject: str) -> None:
    """A request to an echo on this very connection is answered: the reader lives."""

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    sub = await nc.subscribe(subject, cb=echo)
    try:
        assert (await nc.request(subject, b"ping", timeout=WAIT_S)).data == b"ping"
    finally:
        await sub.unsubscribe()


async def test_callers_cancelled_mid_wait_leave_the_connection_working(
    nc: NATS, settings: Settings
) -> None:
    for _ in range(20):  # each cancelled before its PONG can have been read
        waiting = asyncio.ensure_future(flush(nc, WAIT_S))
        await asyncio.sleep(0)
        waiting.cancel()
    await flush(nc, WAIT_S)  # the later PONGs are read, the earlier ones resolved nobody
    await _still_hears(nc, f"{settings.namespace}.test.flush")


async def test_a_flush_that_times_out_leaves_the_connection_working(
    nc: NATS, settings: Settings
) -> None:
    with pytest.raises(nats.errors.FlushTimeoutError):
        await flush(nc, 1e-9)  # no PONG travels that fast
    await flush(nc, WAIT_S)
    await _still_hears(nc, f"{settings.namespace}.test.flush")


async def test_a_closed_connection_is_said_not_waited_on(nc: NATS) -> None:
    await nc.close()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await flush(nc, WAIT_S)
