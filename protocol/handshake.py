"""The server side of the RFC 6455 opening handshake (§4.2), as a pure function.

The hub answers `GET /ws` itself (hub/ws.py): it checks the upgrade
request's headers and writes the 101 response built here straight to the
socket. A request that is not a WebSocket upgrade is refused with
`bad_request` (400), one in another WebSocket version with `upgrade_required`
(426), before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable

from bilten.protocol.errors import BadRequest, UpgradeRequired

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # §1.3
VERSION = "13"  # §4.1: the only version of RFC 6455
# §11.3.1, §11.3.5: these may appear only once in a request.
_SINGLE = ("sec-websocket-key", "sec-websocket-version")


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (§4.2.2, item 5.4)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def upgrade_response(
    headers: Iterable[tuple[str, str]],
    *,
    method: str = "GET",
    http_version: tuple[int, int] = (1, 1),
) -> bytes:
    """The 101 response to an upgrade request with these header fields, each as it came.

    §4.2.1: a GET of HTTP/1.1 or higher, `Upgrade: websocket`, `Connection`
    listing `Upgrade` and one key of 16 base64 bytes, else BadRequest; one
    version, 13, else UpgradeRequired (§4.2.2: 426, the version named in the
    answer). No subprotocol and no extension is negotiated (docs/protocol.md
    §Connecting).
    """
    fields: dict[str, list[str]] = {}
    for name, value in headers:
        fields.setdefault(name.lower(), []).append(value.strip())
    if method != "GET" or http_version < (1, 1):
        raise BadRequest("a WebSocket upgrade is a GET of HTTP/1.1 or higher")
    if ",".join(fields.get("upgrade", ())).lower() != "websocket":
        raise BadRequest("not a WebSocket upgrade: Upgrade must be `websocket`")
    tokens = {part.strip().lower() for part in ",".join(fields.get("connection", ())).split(",")}
    if "upgrade" not in tokens:
        raise BadRequest("not a WebSocket upgrade: Connection must list `Upgrade`")
    for name in _SINGLE:
        if len(fields.get(name, ())) > 1:
            raise BadRequest(f"{name} must appear once")
    if fields.get("sec-websocket-version", [""])[0] != VERSION:
        raise UpgradeRequired(f"Sec-WebSocket-Version must be {VERSION}", versions=VERSION)
    key = fields.get("sec-websocket-key", [""])[0]
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
