"""Disconnect codes: the one table of close codes, and when to reconnect."""

from __future__ import annotations

import orjson
import pytest

from bilten.protocol.disconnects import (
    CLOSE_CODES,
    CLOSE_TOO_LARGE,
    DisconnectCode,
    close_code,
    disconnect_code,
    reconnect_allowed,
)
from bilten.protocol.frames import encode_disconnect

TABLE: list[tuple[DisconnectCode, int, bool]] = [
    # (disconnect code, close code, reconnect with the same token)
    ("protocol_error", 4000, True),
    ("token_expired", 4001, False),
    ("unauthorized", 4002, False),
    ("forbidden", 4003, False),
    ("slow_consumer", 4008, True),
    ("reconnect", 4009, True),
    ("ping_timeout", 4010, True),
    ("rate_limited", 4029, True),
]


@pytest.mark.parametrize(("code", "close", "again"), TABLE)
def test_table(code: DisconnectCode, close: int, again: bool) -> None:
    assert close_code(code) == close
    assert disconnect_code(close) == code
    assert reconnect_allowed(code) is again
    assert orjson.loads(encode_disconnect(code, "why")) == {
        "op": "disconnect",
        "code": code,
        "reason": "why",
    }


def test_table_is_complete_and_unambiguous() -> None:
    assert dict(CLOSE_CODES) == {code: close for code, close, _ in TABLE}
    assert len(set(CLOSE_CODES.values())) == len(CLOSE_CODES)
    assert all(4000 <= close <= 4999 for close in CLOSE_CODES.values())


@pytest.mark.parametrize("close", [1000, 1001, CLOSE_TOO_LARGE, 1011, 4999])
def test_other_close_codes_have_no_disconnect_code(close: int) -> None:
    assert disconnect_code(close) is None


def test_unknown_codes_allow_reconnecting() -> None:
    assert reconnect_allowed("from_a_newer_hub")
