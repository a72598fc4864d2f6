"""The WebSocket endpoint `/ws`: origin, token and upgrade checked, then the socket is the hub's.

aiohttp parses the upgrade request and routes it here; the hub answers the
handshake itself (protocol/handshake.py) and takes the socket over from
aiohttp's request handler, so that nothing of the request outlives the
handshake: from then on hub/reader.py reads the socket and hub/connection.py
writes it. A handshake refused here gets an HTTP error with a stable code
(docs/protocol.md §Connecting); a token that expires later ends the
connection with `disconnect token_expired`.
"""

from __future__ import annotations

from typing import Any, cast

import orjson
from aiohttp import web

from bilten.hub.auth import authenticate, check_origin
from bilten.hub.reader import SocketReader
from bilten.hub.runtime import HUB
from bilten.protocol.errors import BiltenError, UpgradeRequired
from bilten.protocol.handshake import VERSION, upgrade_response


class _Tail:
    """Takes the bytes aiohttp read past the request head, in the shape of its payload parser."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = bytearray()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data += data
        return False, b""

    def feed_eof(self) -> None:
        """aiohttp lets go of the socket: nothing to do."""


class Detached(web.StreamResponse):
    """What the handler returns once the socket is the hub's: aiohttp writes nothing more."""

    def __init__(self) -> None:
        super().__init__(status=101)

    async def prepare(self, request: web.BaseRequest) -> None:
        """The 101 response went out with the handshake."""

    async def write_eof(self, data: bytes = b"") -> None:
        """The socket is no longer aiohttp's to end."""


def _refuse(error: BiltenError) -> web.Response:
    response = web.Response(
        status=error.http_status,
        content_type="application/json",
        body=orjson.dumps({"error": error.to_wire()}),
    )
    if isinstance(error, UpgradeRequired):  # RFC 6455 §4.2.2: name the version spoken
        response.headers["Sec-WebSocket-Version"] = VERSION
    return response


def _take_over(request: web.Request, reader: SocketReader) -> bytes:
    """Move the socket from aiohttp's request handler to `reader`; the bytes already past the head.

    aiohttp hands a WebSocket's bytes to the payload parser set with
    `set_parser`, and its own first: that is how they reach here. The handler
    then forgets the socket as if it were lost, without closing it (it no
    longer has it), and its task ends when this request handler returns.
    """
    handler = request.protocol
    transport = request.transport
    tail = _Tail()
    handler.set_parser(cast(Any, tail))
    if transport is not None:
        transport.set_protocol(reader)
    handler.transport = None
    handler.connection_lost(None)
    return bytes(tail.data)


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /ws?token=…: check the handshake, answer it, and hand the socket to a reader."""
    hub = request.app[HUB]
    try:
        check_origin(request, hub.settings)
        claims = authenticate(request, hub.tokens, allow_query=True)
        response = upgrade_response(
            request.headers.items(),
            method=request.method,
            http_version=(request.version.major, request.version.minor),
        )
    except BiltenError as error:
        return _refuse(error)
    transport = request.transport
    if transport is None or transport.is_closing():
        return Detached()  # the client left already
    reader = SocketReader(hub, transport, claims)
    tail = _take_over(request, reader)
    transport.write(response)
    if tail:
        reader.data_received(tail)
    return Detached()
