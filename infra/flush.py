"""A NATS round trip (PING/PONG) that a cancelled or timed-out caller cannot break.

`Client.flush` in nats-py (2.16) waits on the future it queued for the PONG
with `wait_for`: a caller cancelled while waiting (a WebSocket closed mid
subscribe, a readiness check's own deadline) cancels that future, and so
does the flush's own timeout. The PONG still comes, nats-py's reader calls
`set_result` on the cancelled future, and its read loop dies on the
`InvalidStateError`: from then on the process hears nothing from NATS (no
replies, no deliveries) until a stale-connection check minutes later.

`flush` here queues a future of its own and waits on it through a shield, so
whoever stops waiting, the future is still pending when its PONG arrives.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS
from nats.errors import ConnectionClosedError, ConnectionReconnectingError, FlushTimeoutError


async def flush(nc: NATS, timeout: float) -> None:
    """Return once the server has read everything sent before; FlushTimeoutError after
    `timeout` s, ConnectionClosedError or ConnectionReconnectingError when not connected."""
    if nc.is_closed:
        raise ConnectionClosedError
    if not nc.is_connected:
        raise ConnectionReconnectingError
    pong: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    await nc._send_ping(pong)  # the future nats-py resolves on this PING's PONG
    try:
        await asyncio.wait_for(asyncio.shield(pong), timeout)
    except TimeoutError:
        raise FlushTimeoutError from None
