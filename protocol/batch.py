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


def tags_header(tags: Sequence[tuple[int, str]]) -> str:
    """`Bilten-Tags` of a stored message: `index:tag` of each keyed publication in it.

    A keyed publication (one with an idempotency key or an outbox row id) is
    tagged with a random token that its key's claim names, so a repeat of the
    key finds which message, and which place in it, holds the first one.
    """
    return ",".join(f"{index}:{tag}" for index, tag in tags)


def parse_tags(header: str | None) -> dict[str, int]:
    """The tags of a `Bilten-Tags` header, each with its index; malformed pairs are skipped."""
    found: dict[str, int] = {}
    for pair in (header or "").split(","):
        index, sep, tag = pair.partition(":")
        if sep and tag and index.isdigit():
            found[tag] = int(index)
    return found
