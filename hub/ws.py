"""The WebSocket endpoint `/ws`: origin and token at the handshake, then the read loop.

Reading and writing are decoupled: this handler only reads client frames and
hands them to the connection's `Session` (hub/session.py), which starts the
work; every reply and publication leaves through the connection's batched
writer (hub/connection.py). A token refused at the handshake is answered with
an HTTP error carrying a stable code; one that expires later ends the
connection with `disconnect token_expired`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from bilten.hub.auth import authenticate, check_origin
from bilten.hub.connection import Connection
from bilten.hub.runtime import HUB
from bilten.hub.session import Session
from bilten.protocol.errors import BiltenError


class HubSocket(web.WebSocketResponse):
    """aiohttp's server WebSocket, except that a frame it cannot read ends in a clean close.

    On a frame over `max_msg_size` aiohttp writes close 1009 and closes the
    socket at once, while the rest of that frame is still arriving; the kernel
    then resets the connection, which can destroy the close frame before the
    client reads it (it sees 1006). Here the connection closes lingering
    (hub/connection.py) and aiohttp's own close runs once the socket is gone.
    """

    def __init__(self, *, limit: int, **kwargs: Any) -> None:
        super().__init__(max_msg_size=limit, **kwargs)
        self.limit = limit
        self.conn: Connection | None = None

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        """Close; after a frame aiohttp could not read (any code but 1000), lingering."""
        conn = self.conn
        if code != WSCloseCode.OK and conn is not None and not conn.closed:
            if code == WSCloseCode.MESSAGE_TOO_BIG:
                await conn.refuse_frame(code, f"frame over {self.limit} bytes", "too_large")
            else:
                await conn.refuse_frame(code, "invalid frame", "invalid_frame")
        return await super().close(code=code, message=message, drain=drain)


def _refuse(error: BiltenError) -> web.Response:
    return web.Response(
        status=error.http_status,
        content_type="application/json",
        body=orjson.dumps({"error": error.to_wire()}),
    )


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws?token=…: one client connection, from handshake to close."""
    hub = request.app[HUB]
    settings = hub.settings
    try:
        check_origin(request, settings)
        claims = authenticate(request, hub.tokens, allow_query=True)
    except BiltenError as error:
        return _refuse(error)
    # No autoclose: a client's close frame may be the answer to the hub's own,
    # which must not be answered again (see the end of the loop).
    # No autoping either: pongs must reach the loop below to count as signs of life, and
    # the keep-alive is the hub's own (hub/keepalive.py), which says `ping_timeout`.
    ws = HubSocket(compress=False, limit=settings.max_frame_bytes, autoclose=False, autoping=False)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    loop = asyncio.get_running_loop()
    conn = ws.conn = Connection(
        transport=transport,
        claims=claims,
        flusher=hub.flusher,
        limit=settings.send_buffer_bytes,
        heard=loop.time(),
    )
    session = Session(hub, conn)
    hub.connections.add(conn)
    hub.metrics.ws_connects.inc()
    hub.metrics.ws_connections.inc()
    expiry = loop.call_later(
        max(0.0, claims.exp - time.time()), conn.disconnect, "token_expired", "access token expired"
    )
    try:
        async for msg in ws:
            if conn.closed:
                continue  # closing: the rest is dropped (hub/connection.py)
            conn.heard = loop.time()
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                session.on_frame(msg.data)
            elif msg.type == WSMsgType.PING:
                conn.pong(msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
        # The client's close (or end of stream) came: answer it, or, when it answers
        # the hub's disconnect, just close the socket, since the client stopped sending.
        if conn.closed:
            transport.close()
        else:
            await ws.close()
    finally:
        expiry.cancel()
        conn.release()
        hub.connections.discard(conn)
        hub.metrics.ws_connections.dec()
        hub.metrics.ws_disconnects.labels(conn.close_reason or "client").inc()
        conn.closed = True
        await session.close()
    return ws
