"""RFC 6455 client-to-server frames, read sans-I/O: bytes in, whole messages out.

The hub reads its sockets itself once the handshake is done (hub/reader.py):
`ClientFrames.feed` takes whatever bytes arrived and returns the complete
messages in them, continuation frames joined, control frames as they come.
A frame that breaks the RFC raises `FrameRefused` with the close code to send
(docs/protocol.md §Disconnect codes: 1002, 1007, 1009); the reader is dead
after that, as the rest of the stream can no longer be framed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
PROTOCOL_ERROR = 1002
INVALID_TEXT = 1007
MESSAGE_TOO_BIG = 1009
NO_STATUS = 1005  # §7.1.5: a close frame without a code
# §7.4.1 codes an endpoint may send, below the 3000-4999 range left to libraries and applications.
_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

Kind = Literal["text", "binary", "ping", "pong", "close"]


@dataclass(frozen=True, slots=True)
class Message:
    """One complete message: text (str), binary, ping or pong (bytes), or close (its code)."""

    kind: Kind
    data: str | bytes = b""
    code: int = 0


class FrameRefused(Exception):
    """The client broke RFC 6455 or the size limit: close with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def unmask(payload: bytes | bytearray, key: bytes) -> bytes:
    """XOR `payload` with the repeated 4-byte `key` (§5.3), as one big integer at C speed."""
    n = len(payload)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )


class ClientFrames:
    """The frame reader of one connection; `limit` bounds a message, fragments joined."""

    __slots__ = ("_buffer", "_fragments", "_kind", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._kind: Kind | None = None  # a fragmented message in progress
        # Its fragments so far, joined as they come: checking the size limit and
        # keeping an empty fragment then cost nothing however many arrive (§5.4).
        self._fragments = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        """The messages completed by `data` (FrameRefused when a frame breaks the rules)."""
        buffer = self._buffer
        if buffer:
            buffer += data
            view: bytes | bytearray = buffer
        else:
            view = data
        messages: list[Message] = []
        pos, size = 0, len(view)
        while size - pos >= 2:
            b0, b1 = view[pos], view[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - start < 2:
                    break
                length, start = int.from_bytes(view[start : start + 2], "big"), start + 2
            elif length == 127:
                if size - start < 8:
                    break
                length, start = int.from_bytes(view[start : start + 8], "big"), start + 8
            self._check_header(b0, b1, length)
            end = start + 4 + length
            if end > size:
                break
            payload = unmask(view[start + 4 : end], bytes(view[start : start + 4]))
            message = self._frame(b0 & 0x80, b0 & 0x0F, payload)
            if message is not None:
                messages.append(message)
            pos = end
        if view is buffer:
            del buffer[:pos]
        elif pos < size:
            buffer.extend(view[pos:])
        return messages

    def _check_header(self, b0: int, b1: int, length: int) -> None:
        """§5.2 and §5.5 rules readable from the header, before the payload arrives."""
        opcode = b0 & 0x0F
        if b0 & 0x70:
            raise FrameRefused(PROTOCOL_ERROR, "reserved bits set without an extension")
        if not b1 & 0x80:
            raise FrameRefused(PROTOCOL_ERROR, "client frames must be masked")  # §5.1
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                raise FrameRefused(PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if not b0 & 0x80 or length > 125:
                raise FrameRefused(PROTOCOL_ERROR, "control frames are final and 125 bytes at most")
            return
        if opcode > OP_BINARY:
            raise FrameRefused(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if (opcode == OP_CONTINUATION) != (self._kind is not None):
            raise FrameRefused(PROTOCOL_ERROR, "continuation out of place")
        if length + len(self._fragments) >= self.limit:
            raise FrameRefused(MESSAGE_TOO_BIG, f"frame over {self.limit} bytes")

    def _frame(self, fin: int, opcode: int, payload: bytes) -> Message | None:
        if opcode == OP_PING:
            return Message("ping", payload)
        if opcode == OP_PONG:
            return Message("pong", payload)
        if opcode == OP_CLOSE:
            return _close(payload)
        if opcode != OP_CONTINUATION:
            self._kind = "text" if opcode == OP_TEXT else "binary"
        if not fin:
            self._fragments += payload
            return None
        kind, self._kind = self._kind, None
        if self._fragments:
            self._fragments += payload
            payload = bytes(self._fragments)
            self._fragments = bytearray()
        if kind == "binary":
            return Message("binary", payload)
        try:
            return Message("text", payload.decode())
        except UnicodeDecodeError:
            raise FrameRefused(INVALID_TEXT, "text frame is not UTF-8") from None


def _close(payload: bytes) -> Message:
    """A close frame's code (§5.5.1, §7.4); its reason must be UTF-8 but is not kept."""
    if not payload:
        return Message("close", code=NO_STATUS)
    if len(payload) == 1:
        raise FrameRefused(PROTOCOL_ERROR, "close frame with a 1-byte body")
    code = int.from_bytes(payload[:2], "big")
    if code not in _SENDABLE and not 3000 <= code <= 4999:
        raise FrameRefused(PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameRefused(INVALID_TEXT, "close reason is not UTF-8") from None
    return Message("close", code=code)
