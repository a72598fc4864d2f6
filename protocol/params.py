"""Command parameters shared by every command: integers that REST may send as text.

Path parameters and query strings arrive as strings (`"42"`), JSON bodies as
numbers; both mean the same. Booleans are not integers here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bilten.protocol.errors import BadRequest

MAX_ID = 2**63 - 1


def parse_int(params: Mapping[str, Any], name: str, low: int, high: int,
              default: int | None = None) -> int:
    """`params[name]` as an integer in [low, high]; BadRequest naming the field otherwise."""
    value = params.get(name, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}", field=name)
    return value
