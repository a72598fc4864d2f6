"""Verifying an HS256-signed JWS in compact serialization (RFC 7515 §7.1, RFC 7518 §3.2).

A hub verifies a token on every connect and REST call, and a general JWT
library spends most of that time on what one pinned algorithm does not need
(inspecting the key for PEM or DER on every call, the `json` module): here
it is base64url, one HMAC and orjson. The checks are the strict ones: exactly
three segments, each spelled the only way RFC 7515 §2 allows (no padding,
unused bits zero), a JSON object header whose `alg` is exactly "HS256" and that
asks for no extension (`crit`, §4.1.11), a signature compared in constant
time before the payload is read, and a JSON object payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

import orjson

ALGORITHM = "HS256"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidJws(ValueError):
    """The token is not an HS256 JWS signed with the key; the message says why."""


def verify_hs256(token: str, key: bytes) -> dict[str, Any]:
    """The payload of `token`, once its header and HMAC-SHA256 signature under `key` check out."""
    segments = token.split(".")
    if len(segments) != 3:
        raise InvalidJws("not three segments")
    header_text, payload_text, signature_text = segments
    header = _object(_segment(header_text, "header"), "header")
    payload = _segment(payload_text, "payload")
    signature = _segment(signature_text, "signature")
    if header.get("alg") != ALGORITHM:
        raise InvalidJws("The specified alg value is not allowed")
    if "crit" in header:
        raise InvalidJws("unsupported crit header")
    signed = f"{header_text}.{payload_text}".encode("ascii")  # ASCII: both checked above
    if not hmac.compare_digest(hmac.digest(key, signed, hashlib.sha256), signature):
        raise InvalidJws("Signature verification failed")
    return _object(payload, "payload")


def _segment(text: str, what: str) -> bytes:
    """One base64url segment, refused unless spelled canonically (RFC 7515 §2)."""
    if len(text) % 4 == 1 or not _BASE64URL.fullmatch(text):
        raise InvalidJws(f"{what} is not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=") != text.encode("ascii"):
        raise InvalidJws(f"{what} is not canonical base64url (unused bits set)")
    return data


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidJws(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidJws(f"{what} is not a JSON object")
    return value
