"""RFC 6455 server frame headers: every length encoding, and close frames."""

from __future__ import annotations

import struct

import pytest

from bilten.protocol.wsframe import OP_CLOSE, OP_TEXT, close_frame, frame_header


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, bytes((0x81, 0))),
        (125, bytes((0x81, 125))),
        (126, bytes((0x81, 126)) + struct.pack("!H", 126)),
        (65535, bytes((0x81, 126)) + struct.pack("!H", 65535)),
        (65536, bytes((0x81, 127)) + struct.pack("!Q", 65536)),
    ],
)
def test_text_frame_header(length: int, expected: bytes) -> None:
    assert frame_header(length) == expected
    assert frame_header(length)[0] == 0x80 | OP_TEXT  # FIN, no RSV bits, unmasked


def test_close_frame_carries_code_and_reason() -> None:
    frame = close_frame(4008, "slow")
    assert frame[0] == 0x80 | OP_CLOSE and frame[1] == 6
    assert struct.unpack("!H", frame[2:4]) == (4008,) and frame[4:] == b"slow"


def test_close_reason_is_cut_to_123_bytes_at_a_character_boundary() -> None:
    frame = close_frame(4001, "é" * 100)  # 200 bytes of UTF-8
    reason = frame[4:]
    assert len(reason) <= 123 and frame[1] == len(reason) + 2
    assert reason.decode() == "é" * 61
