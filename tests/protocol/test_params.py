"""Scalar parameters: ASCII-only integers, bounded times, bounded nesting (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from bilten.protocol.errors import BadFrame, BadRequest
from bilten.protocol.frames import decode_client_frames
from bilten.protocol.params import MAX_ID, MAX_NESTING, nesting, parse_int, parse_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, 42),
        ("42", 42),
        ("0042", 42),
        (1, 1),
        (str(MAX_ID), MAX_ID),
        (MAX_ID, MAX_ID),
    ],
)
def test_parse_int_accepts(value: Any, expected: int) -> None:
    assert parse_int({"n": value}, "n", 1, MAX_ID) == expected


@pytest.mark.parametrize(
    "value",
    [
        "²",
        "\u0664\u0662",
        "４２",
        "１",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1_000",
        "0x10",
        "1e3",
        "",
        "9" * 20,
        str(MAX_ID + 1),
        MAX_ID + 1,
        0,
        -5,
        1.0,
        True,
        False,
        None,
        [1],
        {"n": 1},
    ],
)
def test_parse_int_refuses(value: Any) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_int({"n": value}, "n", 1, MAX_ID)
    assert refused.value.details == {"field": "n"}


def test_parse_int_default() -> None:
    assert parse_int({}, "n", 0, 10, default=3) == 3
    with pytest.raises(BadRequest):
        parse_int({}, "n", 0, 10)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2027-06-01T19:00:00+02:00", datetime(2027, 6, 1, 17, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
        ("9000-12-31T23:59:59+00:00", datetime(9000, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("1970-01-01T05:00:00+05:00", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts(text: str, utc: datetime) -> None:
    assert parse_time(text, "at") == utc


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:30:00+14:00",  # before year 1 in UTC: OverflowError in Python
        "9999-12-31T23:00:00-14:00",  # after year 9999 in UTC
        "1969-12-31T23:59:59+00:00",  # before the lower bound
        "1970-01-01T00:00:00+01:00",  # 1969 in UTC
        "9001-01-01T00:00:00+00:00",  # after the upper bound
        "2027-06-01T19:00:00",  # naive
        "2027-06-01",  # naive date
        "２０２７-06-01T19:00:00+02:00",  # non-ASCII digits
        "2027-06-01T19:00:00+02:00" + " " * 64,
        "yesterday",
        "",
        1748808000,
        None,
        ["2027-06-01T19:00:00Z"],
    ],
)
def test_parse_time_refuses(value: Any) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_time(value, "scanned_at")
    assert refused.value.details == {"field": "scanned_at"}


def _nested(depth: int) -> Any:
    value: Any = 0
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


@pytest.mark.parametrize(
    ("value", "depth"),
    [
        (0, 0),
        ("x", 0),
        ([], 1),
        ({}, 1),
        ([1, [2, [3]]], 3),
        ({"a": [{}], "b": 1}, 3),
        (_nested(MAX_NESTING), MAX_NESTING),
        (_nested(MAX_NESTING + 1), MAX_NESTING + 1),
    ],
)
def test_nesting(value: Any, depth: int) -> None:
    assert nesting(value) == depth


def test_nesting_stops_early_and_survives_any_depth() -> None:
    deep = _nested(5000)  # beyond Python's recursion limit
    assert nesting(deep) == MAX_NESTING + 1


def _rpc_frame(params_depth: int) -> bytes:
    """Written by hand: orjson itself refuses to write more than 254 levels."""
    params = b'{"a":' + b"[" * (params_depth - 1) + b"0" + b"]" * (params_depth - 1) + b"}"
    return b'{"op":"rpc","id":1,"method":"events.get","params":' + params + b"}"


@pytest.mark.parametrize("depth", [MAX_NESTING, 300, 1000])
def test_frames_nested_too_deep_are_bad_frames(depth: int) -> None:
    with pytest.raises(BadFrame) as refused:
        decode_client_frames(_rpc_frame(depth))
    assert refused.value.details == {"limit": MAX_NESTING}


def test_frames_within_the_bound_decode() -> None:
    frame = _rpc_frame(MAX_NESTING - 2)  # frame object + params
    assert len(decode_client_frames(frame)) == 1
    # Many brackets inside strings take the slow path and still pass.
    text = orjson.dumps({"op": "rpc", "id": 1, "method": "a.b", "params": {"s": "{[" * 100}})
    assert len(decode_client_frames(text)) == 1
