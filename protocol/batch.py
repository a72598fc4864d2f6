"""Several publications stored as one JetStream message (group commit).

docs/protocol.md §NATS subjects. A publisher that has k publications queued
for one channel stores them in one message with `Bilten-Count: k` and
`Bilten-Offset` = the first one's offset; the payload is each publication's
JSON prefixed by its length (4 bytes, big endian), so a hub splits it without
parsing JSON. A message without `Bilten-Count` holds one publication as plain
JSON, which is what a publisher in another language sends.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from bilten.protocol.errors import BadRequest

_LENGTH = struct.Struct("!I")


def pack(items: Sequence[bytes]) -> bytes:
    """Length-prefixed concatenation of `items`."""
    return b"".join(_LENGTH.pack(len(item)) + item for item in items)


def unpack(payload: bytes, count: int) -> list[bytes]:
    """The `count` items of a packed payload; BadRequest if it does not hold exactly that."""
    items: list[bytes] = []
    pos = 0
    view = memoryview(payload)
    while pos < len(payload):
        if pos + 4 > len(payload):
            raise BadRequest("truncated batch")
        (size,) = _LENGTH.unpack_from(view, pos)
        pos += 4
        if pos + size > len(payload):
            raise BadRequest("truncated batch")
        items.append(payload[pos : pos + size])
        pos += size
    if len(items) != count:
        raise BadRequest(f"batch holds {len(items)} items, header says {count}")
    return items


def publications(payload: bytes, count_header: str | None) -> list[bytes]:
    """The publications a stored message carries (one, or a packed batch)."""
    if count_header is None:
        return [payload]
    try:
        count = int(count_header)
    except ValueError:
        raise BadRequest(f"bad count header {count_header!r}") from None
    if count < 1:
        raise BadRequest(f"bad count header {count_header!r}")
    return unpack(payload, count)
