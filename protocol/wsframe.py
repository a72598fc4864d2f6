"""RFC 6455 server-to-client frame headers, for writing pre-encoded frames.

The hub writes batches of ready-made messages straight to the transport
(docs/protocol.md §Batching), so it builds the few bytes of the frame header
itself. Server frames are never masked (RFC 6455 §5.1) and the hub does not
negotiate permessage-deflate, so RSV bits are 0.
"""

from __future__ import annotations

import struct

OP_TEXT = 0x1
OP_CLOSE = 0x8
_FIN = 0x80


def frame_header(length: int, opcode: int = OP_TEXT) -> bytes:
    """The header of an unmasked, final frame carrying `length` payload bytes.

    RFC 6455 §5.2: 7-bit length up to 125, else 126 + 16-bit, else 127 + 64-bit.
    """
    if length < 126:
        return bytes((_FIN | opcode, length))
    if length < 1 << 16:
        return struct.pack("!BBH", _FIN | opcode, 126, length)
    return struct.pack("!BBQ", _FIN | opcode, 127, length)


def close_frame(code: int, reason: str = "") -> bytes:
    """A complete close frame; the reason is cut to fit the 123-byte limit (§5.5)."""
    # Cut at a character boundary: a close reason must stay valid UTF-8.
    body = struct.pack("!H", code) + reason.encode()[:123].decode(errors="ignore").encode()
    return frame_header(len(body), OP_CLOSE) + body
