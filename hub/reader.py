"""Reading one client socket after the handshake: frames in, to the connection's session.

Once hub/ws.py has answered the upgrade, the socket's bytes come here, to an
`asyncio.Protocol` of the hub's own rather than to aiohttp: aiohttp's request,
its WebSocket response, reader queue and handler tasks would otherwise stay
alive for the socket's whole life, a third of an idle connection's memory
(benchmarks/README.md §Connect path). The frames themselves are read by
protocol/wsreader.py; replies leave through the connection's batched writer
(hub/connection.py).

A client's close frame is answered (1000) and the socket closed; when it
answers the hub's own `disconnect`, the socket is just closed. Either way, and
after a client's FIN, the socket is cut after `LINGER_S` if the client does not
read what the hub still holds for it (`Connection.close_socket`). A frame that
breaks RFC 6455 or the size limit ends the connection with its close code
(`Connection.refuse_frame`), the rest of the input dropped.
"""

from __future__ import annotations

import asyncio
from asyncio import Transport

from bilten.hub.connection import Connection
from bilten.hub.runtime import Hub
from bilten.hub.session import Session
from bilten.protocol.tokens import Claims
from bilten.protocol.wsframe import close_frame
from bilten.protocol.wsreader import MESSAGE_TOO_BIG, ClientFrames, FrameRefused

NORMAL_CLOSURE = 1000


class SocketReader(asyncio.Protocol):
    """The protocol of one upgraded client socket; it owns the connection's lifetime."""

    __slots__ = ("conn", "frames", "hub", "session")

    def __init__(self, hub: Hub, transport: Transport, claims: Claims) -> None:
        loop = hub.flusher.loop
        settings = hub.settings
        self.hub = hub
        self.frames: ClientFrames | None = ClientFrames(settings.max_frame_bytes)
        self.conn = Connection(
            transport=transport,
            claims=claims,
            flusher=hub.flusher,
            limit=settings.send_buffer_bytes,
            heard=loop.time(),
        )
        self.session = Session(hub, self.conn)
        hub.connections.add(self.conn)
        hub.metrics.ws_connects.inc()
        hub.metrics.ws_connections.inc()

    def data_received(self, data: bytes) -> None:
        """Hand every complete message to the session; control frames are answered here."""
        frames = self.frames
        if frames is None:
            return  # after a refused frame or the client's close: nothing more is read
        conn = self.conn
        try:
            messages = frames.feed(data)
        except FrameRefused as error:
            self.frames = None
            self._refuse(error)
            return
        conn.heard = self.hub.flusher.loop.time()
        for message in messages:
            kind = message.kind
            if kind == "close":
                self.frames = None
                self._answer_close()
                return
            if conn.closed:
                continue  # closing: the rest is dropped (hub/connection.py)
            if kind == "text" or kind == "binary":
                self.session.on_frame(message.data)
            elif kind == "ping" and isinstance(message.data, bytes):
                conn.pong(message.data)

    def eof_received(self) -> None:
        """The client closed its side without a close frame: the socket closes (asyncio closes
        the transport when this returns None), cut after the linger if the client does not read."""
        self.conn.close_socket()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection; its subscriptions and presence are let go in a tracked task."""
        hub, conn = self.hub, self.conn
        self.frames = None
        conn.release()
        hub.connections.discard(conn)
        hub.metrics.ws_connections.dec()
        hub.metrics.ws_disconnects.labels(conn.close_reason or "client").inc()
        conn.closed = True
        hub.track(self.session.close())

    def _answer_close(self) -> None:
        """The client's close came: answer it, unless it answers the hub's own."""
        transport = self.conn.transport
        if not self.conn.closed and not transport.is_closing():
            transport.write(close_frame(NORMAL_CLOSURE))
        self.conn.close_socket()

    def _refuse(self, error: FrameRefused) -> None:
        label = "too_large" if error.code == MESSAGE_TOO_BIG else "invalid_frame"
        self.hub.track(self.conn.refuse_frame(error.code, error.reason, label))
