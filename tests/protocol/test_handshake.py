"""The server side of the RFC 6455 opening handshake: the 101 answer and every refusal."""

from __future__ import annotations

import pytest

from bilten.protocol.errors import BadRequest, UpgradeRequired
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
    assert upgrade_response(GOOD.items()) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"Upgrade": ""},
        {"Upgrade": "h2c"},
        {"Connection": "keep-alive"},
        {"Sec-WebSocket-Key": ""},
        {"Sec-WebSocket-Key": "not base64!"},
        {"Sec-WebSocket-Key": "c2hvcnQ="},  # 5 bytes, not 16
    ],
)
def test_anything_but_a_websocket_upgrade_is_a_bad_request(changes: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        upgrade_response({**GOOD, **changes}.items())


@pytest.mark.parametrize(
    ("method", "http_version", "extra"),
    [
        ("HEAD", (1, 1), []),
        ("POST", (1, 1), []),
        ("GET", (1, 0), []),
        ("GET", (1, 1), [("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA==")]),  # §11.3.1: once
        ("GET", (1, 1), [("Sec-WebSocket-Version", "13")]),  # §11.3.5: once
    ],
)
def test_a_request_line_or_a_repeated_field_outside_the_rfc_is_a_bad_request(
    method: str, http_version: tuple[int, int], extra: list[tuple[str, str]]
) -> None:
    with pytest.raises(BadRequest):
        upgrade_response([*GOOD.items(), *extra], method=method, http_version=http_version)


def test_fields_repeated_where_lists_are_allowed_are_joined() -> None:
    fields = [*GOOD.items(), ("Connection", "Upgrade")]
    fields.remove(("Connection", "keep-alive, Upgrade"))
    fields.insert(0, ("Connection", "keep-alive"))
    assert upgrade_response(fields, method="GET", http_version=(2, 0)).startswith(b"HTTP/1.1 101 ")


@pytest.mark.parametrize("version", ["8", "", "13, 8"])
def test_another_version_is_upgrade_required(version: str) -> None:
    """§4.2.2: 426 naming the version the server speaks (hub/ws.py adds the header)."""
    with pytest.raises(UpgradeRequired) as refused:
        upgrade_response({**GOOD, "Sec-WebSocket-Version": version}.items())
    assert refused.value.http_status == 426 and refused.value.details == {"versions": "13"}
