"""Signing webhook deliveries, and verifying them as a receiver must (docs/webhooks.md §Verifying).

Each attempt carries `Bilten-Timestamp` (Unix seconds, when it was sent) and
`Bilten-Signature: v1=<hex>`, the HMAC-SHA256 under the webhook's secret of
the timestamp, a dot and the raw body. A receiver recomputes it over the
bytes it received and refuses a timestamp outside the replay window, so a
captured request cannot be sent again later. Pure: the worker signs with it,
the Python SDK (clients/sdk.py) verifies with it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from bilten.protocol.errors import BadSignature

HDR_WEBHOOK_ID = "Bilten-Webhook-Id"
HDR_DELIVERY_ID = "Bilten-Delivery-Id"
HDR_ATTEMPT = "Bilten-Attempt"
HDR_TIMESTAMP = "Bilten-Timestamp"
HDR_SIGNATURE = "Bilten-Signature"
SCHEME = "v1"
# Receivers refuse a timestamp further than this from their clock, either way.
REPLAY_WINDOW_S = 300
_MAX_SIGNATURES = 8


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 under `secret` of f"{timestamp}." followed by `body`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The `Bilten-Signature` value: `v1=<hex>`."""
    return f"{SCHEME}={sign(secret, timestamp, body)}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The timestamp and signature headers of one attempt."""
    return {
        HDR_TIMESTAMP: str(timestamp),
        HDR_SIGNATURE: signature_header(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    now: float,
    *,
    window_s: float = REPLAY_WINDOW_S,
) -> int:
    """Check a received delivery; returns its timestamp, or raises `BadSignature`.

    `headers` is looked up by the exact names above (aiohttp's and most
    frameworks' header maps ignore case). The signature header may list several
    space-separated `v1=` values: any one matching is enough. `details.reason`
    says which check failed: `missing`, `malformed`, `stale` or `mismatch`.
    """
    raw_timestamp = headers.get(HDR_TIMESTAMP)
    raw_signature = headers.get(HDR_SIGNATURE)
    if raw_timestamp is None or raw_signature is None:
        raise BadSignature(f"{HDR_TIMESTAMP} and {HDR_SIGNATURE} are required", "missing")
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
        raise BadSignature(f"{HDR_TIMESTAMP} is not Unix seconds", "malformed")
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > window_s:
        raise BadSignature(f"{HDR_TIMESTAMP} is outside the {window_s:g} s window", "stale")
    expected = sign(secret, timestamp, body)
    offered = [
        value.removeprefix(f"{SCHEME}=")
        for value in raw_signature.split()[:_MAX_SIGNATURES]
        if value.startswith(f"{SCHEME}=")
    ]
    if not offered:
        raise BadSignature(f"{HDR_SIGNATURE} has no {SCHEME}= signature", "malformed")
    if not any(hmac.compare_digest(expected, value) for value in offered):
        raise BadSignature("the signature does not match the body", "mismatch")
    return timestamp
