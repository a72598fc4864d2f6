"""Disconnect codes: why the hub closes a connection, and the close code it uses.

docs/protocol.md §Disconnect codes. The hub sends a `disconnect` frame with one
of these codes, then closes the WebSocket with the matching 4xxx code; a client
that misses the frame can still map the close code back. This is the one table:
the hub's connection handler and the SDK's reconnect logic both read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

DisconnectCode = Literal[
    "protocol_error",
    "token_expired",
    "unauthorized",
    "forbidden",
    "slow_consumer",
    "reconnect",
    "ping_timeout",
    "rate_limited",
]

CLOSE_CODES: Mapping[DisconnectCode, int] = MappingProxyType(
    {
        "protocol_error": 4000,  # the client kept breaking the protocol
        "token_expired": 4001,  # the token's exp passed; reconnect with a fresh token
        "unauthorized": 4002,  # the token is not (or no longer) valid
        "forbidden": 4003,  # the token no longer grants this connection
        "slow_consumer": 4008,  # the client fell behind; reconnect and recover
        "reconnect": 4009,  # the hub is shutting down or rebalancing: go elsewhere
        "ping_timeout": 4010,  # nothing heard from the client for too long
        "rate_limited": 4029,  # too many frames; reconnect after a backoff
    }
)
# Reconnecting with the same token is bound to fail after these.
_SAME_TOKEN_FAILS: frozenset[str] = frozenset({"token_expired", "unauthorized", "forbidden"})

# WebSocket standard codes the hub also uses (RFC 6455 §7.4.1); these come
# without a `disconnect` frame.
CLOSE_NORMAL = 1000  # the client asked to close
CLOSE_GOING_AWAY = 1001  # the hub stopped before it could send `reconnect`
CLOSE_TOO_LARGE = 1009  # a frame exceeded the size limit
CLOSE_INTERNAL = 1011  # an unexpected server error; details only in the server log


def close_code(code: DisconnectCode) -> int:
    """The WebSocket close code sent after a `disconnect` frame with `code`."""
    return CLOSE_CODES[code]


def disconnect_code(close: int) -> DisconnectCode | None:
    """The disconnect code behind a 4xxx close code (None for any other code)."""
    return next((name for name, value in CLOSE_CODES.items() if value == close), None)


def reconnect_allowed(code: str) -> bool:
    """Whether reconnecting with the same token can succeed after `code`.

    Unknown codes (from a newer hub) allow it, with the client's usual backoff.
    """
    return code not in _SAME_TOKEN_FAILS
