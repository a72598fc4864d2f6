"""The server side of the RFC 6455 opening handshake: the 101 answer and every refusal."""

from __future__ import annotations

import pytest

from bilten.protocol.errors import BadRequest
from bilten.protocol.handshake import accept_key, upgrade_response

GOOD = {
    "Upgrade": "websocket",
    "Connection": "keep-alive, Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def test_accept_key_of_the_rfc_example() -> None:
    # RFC 6455 §1.3: this key is answered with this accept value.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_upgrade_response_switches_protocols() -> None:
    assert upgrade_response(GOOD) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"Upgrade": ""},
        {"Upgrade": "h2c"},
        {"Connection": "keep-alive"},
        {"Sec-WebSocket-Version": "8"},
        {"Sec-WebSocket-Version": ""},
        {"Sec-WebSocket-Key": ""},
        {"Sec-WebSocket-Key": "not base64!"},
        {"Sec-WebSocket-Key": "c2hvcnQ="},  # 5 bytes, not 16
    ],
)
def test_anything_but_a_websocket_upgrade_is_a_bad_request(changes: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        upgrade_response({**GOOD, **changes})
