"""HS256 compact JWS verification: what pyjwt signs passes, anything else names its fault."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest

from bilten.protocol.jws import InvalidJws, verify_hs256

KEY = b"test-secret-0123456789-0123456789-abcdef"
PAYLOAD = {"sub": "alice", "exp": 1_700_000_060}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: Any, payload_segment: str, key: bytes = KEY) -> str:
    """`header` and an already encoded payload segment, signed by hand."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{payload_segment}"
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def _payload_segment(payload: Any = PAYLOAD) -> str:
    return _b64(json.dumps(payload).encode())


def test_a_token_pyjwt_signs_is_verified() -> None:
    token = jwt.encode(PAYLOAD, KEY.decode(), algorithm="HS256", headers={"kid": "k1"})
    assert verify_hs256(token, KEY) == PAYLOAD


REFUSED: list[tuple[str, str, str]] = [
    ("two segments", "a.b", "not three segments"),
    ("four segments", "a.b.c.d", "not three segments"),
    ("not base64url", "a!.b.c", "header is not base64url"),
    ("a length no bytes have", "abcde.b.c", "header is not base64url"),
    ("header an array", _signed([1], _payload_segment()), "header is not a JSON object"),
    ("header not JSON", f"{_b64(b'{')}.{_payload_segment()}.", "header is not JSON"),
    (
        "non-ASCII payload segment",
        _signed({"alg": "HS256"}, "é" + _payload_segment()),
        "payload is not base64url",
    ),
    (
        "crit",
        _signed({"alg": "HS256", "crit": ["b64"], "b64": False}, _payload_segment()),
        "unsupported crit header",
    ),
    ("no alg", _signed({"typ": "JWT"}, _payload_segment()), "alg value is not allowed"),
    (
        "other key",
        _signed({"alg": "HS256"}, _payload_segment(), key=b"x" * 40),
        "Signature verification failed",
    ),
    (
        "payload not JSON",
        _signed({"alg": "HS256"}, _b64(b"not json")),
        "payload is not JSON",
    ),
]


@pytest.mark.parametrize(("case", "token", "fragment"), REFUSED, ids=[c for c, _, _ in REFUSED])
def test_refused(case: str, token: str, fragment: str) -> None:
    with pytest.raises(InvalidJws, match=fragment):
        verify_hs256(token, KEY)
