"""Header bytes no client of ours sends, against a real hub: refused with the documented
code and JSON body, never a 500 (docs/protocol.md §Errors).

aiohttp keeps bytes that are not UTF-8 in a header as lone surrogates: encoding such a
token to check its signature, or echoing such an origin in an error body, used to fail.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.hub.peers import answer

WS = b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + (
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def _request(head: bytes, body: bytes) -> bytes:
    """The request line and headers written by hand, completed into a whole request."""
    length = f"Content-Length: {len(body)}\r\n".encode() if body else b""
    return head + b"Host: x\r\n" + length + b"\r\n" + body


@pytest.mark.parametrize(
    ("head", "body", "status", "code"),
    [
        (
            b"GET /api/v1/events HTTP/1.1\r\nAuthorization: Bearer a\xff.b.c\r\n",
            b"",
            401,
            "unauthorized",
        ),
        (b"GET /ws HTTP/1.1\r\nAuthorization: Bearer a\xff.b.c\r\n" + WS, b"", 401, "unauthorized"),
        (b"GET /ws?token=a%FF.b.c HTTP/1.1\r\n" + WS, b"", 401, "unauthorized"),
        (
            b"GET /api/v1/auth/me HTTP/1.1\r\nCookie: bilten_session=\xff\r\n",
            b"",
            401,
            "unauthorized",
        ),
        (
            b"GET /api/v1/attendee/me HTTP/1.1\r\nCookie: bilten_attendee=\xff\r\n",
            b"",
            401,
            "unauthorized",
        ),
        (b"POST /api/v1/auth/signin HTTP/1.1\r\nOrigin: http://\xff\r\n", b"{}", 403, "forbidden"),
        (b"GET /ws?token=x HTTP/1.1\r\nOrigin: http://\xff\r\n" + WS, b"", 403, "forbidden"),
        (b"GET /ws?token=x HTTP/1.1\r\nOrigin: http://[\r\n" + WS, b"", 403, "forbidden"),
    ],
    ids=[
        "rest-bearer",
        "ws-bearer",
        "ws-query-token",
        "session-cookie",
        "attendee-cookie",
        "rest-origin",
        "ws-origin",
        "ws-origin-not-a-url",
    ],
)
async def test_bytes_no_client_sends_are_refused_with_their_code(
    hub_server: Any, head: bytes, body: bytes, status: int, code: str
) -> None:
    got, headers, answered = await answer(hub_server, _request(head, body))
    assert headers["content-type"].startswith("application/json"), answered
    assert (got, orjson.loads(answered)["error"]["code"]) == (status, code), answered
