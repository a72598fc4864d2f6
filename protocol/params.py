"""Scalar parameters shared by every command: integers, times and nesting bounds.

Path parameters and query strings arrive as strings (`"42"`), JSON bodies as
numbers; both mean the same. Booleans are not integers here. Only ASCII digits
count: `str.isdigit()` also accepts `"²"`, which `int()` then refuses.
Times are read by one parser, bounded to what PostgreSQL and Python's
`datetime` can both hold after conversion to UTC (docs/protocol.md §Commands).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bilten.protocol.errors import BadRequest

MAX_ID = 2**63 - 1
MAX_INT_DIGITS = 19  # len(str(MAX_ID)): longer digit strings are refused before int()
MIN_YEAR = 1970
MAX_YEAR = 9000
MAX_TIME_LENGTH = 64
# The deepest JSON value accepted from a client. orjson writes at most 254 levels and
# the value travels on inside envelopes (command request, frame), so input is bounded
# well below that: no value can be read that cannot be written back.
MAX_NESTING = 64
_ASCII_INT = re.compile(rf"[0-9]{{1,{MAX_INT_DIGITS}}}")


def ascii_int(value: object) -> int | None:
    """`value` as an int when it is one (not a bool) or a string of 1-19 ASCII digits."""
    if isinstance(value, str):
        return int(value) if _ASCII_INT.fullmatch(value) else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def parse_int(
    params: Mapping[str, Any], name: str, low: int, high: int, default: int | None = None
) -> int:
    """`params[name]` as an integer in [low, high]; BadRequest naming the field otherwise."""
    value = ascii_int(params.get(name, default))
    if value is None or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}", field=name)
    return value


def parse_time(value: object, name: str) -> datetime:
    """An ISO 8601 time with a UTC offset, in years 1970-9000 once converted to UTC.

    A naive time is refused (ambiguous for people who travel to an event); the
    year bound keeps every accepted time representable in UTC and in PostgreSQL.
    """
    problem = (
        f"{name} must be an ISO 8601 time with a UTC offset, in years {MIN_YEAR} to {MAX_YEAR}"
    )
    if not isinstance(value, str) or len(value) > MAX_TIME_LENGTH or not value.isascii():
        raise BadRequest(problem, field=name)
    try:
        parsed = datetime.fromisoformat(value)
        utc = parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        raise BadRequest(problem, field=name) from None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise BadRequest(problem, field=name)
    return parsed


def nesting(value: object, limit: int = MAX_NESTING) -> int:
    """How deep `value` nests arrays and objects, counting up to `limit + 1` at most.

    Iterative, so a value nested beyond the interpreter's recursion limit is
    measured too; it stops as soon as the limit is exceeded.
    """
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest
