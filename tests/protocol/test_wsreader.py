"""RFC 6455 client frames read sans-I/O: frames serialized by `websockets` (an independent
implementation) go in, whole messages come out, and every broken rule has its close code."""

from __future__ import annotations

import struct

import pytest
from websockets.frames import Frame, Opcode

from bilten.protocol.wsreader import (
    INVALID_TEXT,
    MESSAGE_TOO_BIG,
    NO_STATUS,
    PROTOCOL_ERROR,
    ClientFrames,
    FrameRefused,
    Message,
    unmask,
)

LIMIT = 1024


def client(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True)


def read(*frames: bytes) -> list[Message]:
    return ClientFrames(LIMIT).feed(b"".join(frames))


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([client(Opcode.TEXT, b'{"op":"ping"}')], [Message("text", '{"op":"ping"}')]),
        ([client(Opcode.TEXT, "é".encode())], [Message("text", "é")]),
        ([client(Opcode.BINARY, b"\x00\xff")], [Message("binary", b"\x00\xff")]),
        ([client(Opcode.TEXT, b"")], [Message("text", "")]),
        ([client(Opcode.TEXT, b"x" * 200)], [Message("text", "x" * 200)]),  # 16-bit length
        ([client(Opcode.PING, b"hi")], [Message("ping", b"hi")]),
        ([client(Opcode.PONG, b"")], [Message("pong", b"")]),
        ([client(Opcode.CLOSE, struct.pack("!H", 1000))], [Message("close", code=1000)]),
        ([client(Opcode.CLOSE, struct.pack("!H", 4321) + b"bye")], [Message("close", code=4321)]),
        ([client(Opcode.CLOSE, b"")], [Message("close", code=NO_STATUS)]),
        (  # fragments joined, a control frame between them delivered at once
            [
                client(Opcode.TEXT, b'{"op":', fin=False),
                client(Opcode.PING, b"p"),
                client(Opcode.CONT, b'"ping"}'),
            ],
            [Message("ping", b"p"), Message("text", '{"op":"ping"}')],
        ),
        (  # a character cut between two fragments
            [
                client(Opcode.TEXT, "é".encode()[:1], fin=False),
                client(Opcode.CONT, "é".encode()[1:]),
            ],
            [Message("text", "é")],
        ),
    ],
)
def test_frames_become_messages(frames: list[bytes], expected: list[Message]) -> None:
    assert read(*frames) == expected


def test_bytes_may_arrive_one_at_a_time() -> None:
    data = client(Opcode.TEXT, b"x" * 300) + client(Opcode.PING, b"!")
    reader = ClientFrames(LIMIT)
    got: list[Message] = []
    for n in range(len(data)):
        got += reader.feed(data[n : n + 1])
    assert got == [Message("text", "x" * 300), Message("ping", b"!")]


def test_64_bit_lengths_are_read() -> None:
    reader = ClientFrames(1 << 20)
    assert reader.feed(client(Opcode.BINARY, b"y" * 70_000)) == [Message("binary", b"y" * 70_000)]


def test_unmask_is_its_own_inverse() -> None:
    key = b"\x01\x02\x03\x04"
    assert unmask(unmask(b"hello world", key), key) == b"hello world"
    assert unmask(b"", key) == b""


def raw(first: int, payload: bytes) -> bytes:
    """A masked frame that `websockets` would refuse to build; the zero key leaves it as is."""
    length = len(payload)
    size = bytes((0x80 | length,)) if length < 126 else struct.pack("!BH", 0x80 | 126, length)
    return bytes((first,)) + size + b"\x00" * 4 + payload


UNMASKED_TEXT = Frame(Opcode.TEXT, b"hi").serialize(mask=False)


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([UNMASKED_TEXT], PROTOCOL_ERROR),  # §5.1
        ([raw(0x80 | 0x40 | 0x1, b"hi")], PROTOCOL_ERROR),  # RSV1: no extension negotiated
        ([raw(0x80 | 0x3, b"")], PROTOCOL_ERROR),  # opcode 3 is reserved
        ([raw(0x80 | 0xB, b"")], PROTOCOL_ERROR),  # so is 0xB
        ([raw(0x9, b"p")], PROTOCOL_ERROR),  # §5.5: control frames are final
        ([raw(0x80 | 0x9, b"p" * 126)], PROTOCOL_ERROR),  # §5.5: at most 125 bytes
        ([client(Opcode.CONT, b"x")], PROTOCOL_ERROR),  # nothing to continue
        ([client(Opcode.TEXT, b"a", fin=False), client(Opcode.TEXT, b"b")], PROTOCOL_ERROR),
        ([client(Opcode.CLOSE, b"\x03")], PROTOCOL_ERROR),  # a 1-byte close body
        ([client(Opcode.CLOSE, struct.pack("!H", 1005))], PROTOCOL_ERROR),  # never sent
        ([client(Opcode.CLOSE, struct.pack("!H", 999))], PROTOCOL_ERROR),
        ([client(Opcode.CLOSE, struct.pack("!H", 1000) + b"\xff")], INVALID_TEXT),
        ([client(Opcode.TEXT, b'{"x":"\xff"}')], INVALID_TEXT),
        ([client(Opcode.TEXT, b"x" * LIMIT)], MESSAGE_TOO_BIG),  # the limit itself is too big
        (
            [client(Opcode.TEXT, b"x" * 600, fin=False), client(Opcode.CONT, b"x" * 600)],
            MESSAGE_TOO_BIG,
        ),
    ],
)
def test_broken_frames_are_refused_with_their_close_code(frames: list[bytes], code: int) -> None:
    with pytest.raises(FrameRefused) as refused:
        read(*frames)
    assert refused.value.code == code


def test_an_oversize_frame_is_refused_from_its_header_alone() -> None:
    header = client(Opcode.BINARY, b"z" * 70_000)[:14]  # 2 + 8 length bytes + 4 mask bytes
    with pytest.raises(FrameRefused) as refused:
        ClientFrames(LIMIT).feed(header)
    assert refused.value.code == MESSAGE_TOO_BIG


def test_a_message_just_under_the_limit_passes() -> None:
    assert read(client(Opcode.TEXT, b"x" * (LIMIT - 1))) == [Message("text", "x" * (LIMIT - 1))]


def test_empty_and_one_byte_fragments_join_up_to_the_limit() -> None:
    """§5.4 allows any number of fragments; the limit counts their bytes, not how many."""
    frames = [client(Opcode.TEXT, b"x", fin=False)]
    frames += [client(Opcode.CONT, b"", fin=False)] * 10_000
    frames += [client(Opcode.CONT, b"x", fin=False)] * (LIMIT - 3)
    assert read(*frames, client(Opcode.CONT, b"x")) == [Message("text", "x" * (LIMIT - 1))]
    with pytest.raises(FrameRefused) as refused:
        read(*frames, client(Opcode.CONT, b"x", fin=False), client(Opcode.CONT, b"x"))
    assert refused.value.code == MESSAGE_TOO_BIG
