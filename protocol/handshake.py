"""The server side of the RFC 6455 opening handshake (§4.2), as a pure function.

The hub answers `GET /ws` itself (hub/socket.py): it checks the upgrade
request's headers and writes the 101 response built here straight to the
socket. A request that is not a WebSocket upgrade is refused with
`bad_request` (400) before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from bilten.protocol.errors import BadRequest

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # §1.3
VERSION = "13"  # §4.1: the only version of RFC 6455


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (§4.2.2, item 5.4)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def upgrade_response(headers: Mapping[str, str]) -> bytes:
    """The 101 response to an upgrade request with these (case-insensitive) headers.

    §4.2.1: `Upgrade: websocket`, `Connection` listing `Upgrade`, version 13
    and a key of 16 base64 bytes; anything else raises BadRequest. No
    subprotocol and no extension is negotiated (docs/protocol.md §Connecting).
    """
    if headers.get("Upgrade", "").strip().lower() != "websocket":
        raise BadRequest("not a WebSocket upgrade: Upgrade must be `websocket`")
    tokens = {part.strip().lower() for part in headers.get("Connection", "").split(",")}
    if "upgrade" not in tokens:
        raise BadRequest("not a WebSocket upgrade: Connection must list `Upgrade`")
    if headers.get("Sec-WebSocket-Version", "").strip() != VERSION:
        raise BadRequest(f"Sec-WebSocket-Version must be {VERSION}")
    key = headers.get("Sec-WebSocket-Key", "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise BadRequest("Sec-WebSocket-Key must be 16 bytes in base64")
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()
