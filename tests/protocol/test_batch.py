"""Packed publication batches: round trips and every malformed shape."""

from __future__ import annotations

import pytest

from bilten.protocol.batch import pack, publications, unpack
from bilten.protocol.errors import BadRequest


@pytest.mark.parametrize(
    "items", [[b"{}"], [b'{"a":1}', b"[]", b'"x"'], [b""] * 3, [b"x" * 70000, b"1"]]
)
def test_round_trip(items: list[bytes]) -> None:
    assert unpack(pack(items), len(items)) == items
    assert publications(pack(items), str(len(items))) == items


def test_single_publication_is_plain_json() -> None:
    assert publications(b'{"n":1}', None) == [b'{"n":1}']


@pytest.mark.parametrize(
    ("payload", "count"),
    [
        (pack([b"{}"])[:-1], "1"),
        (pack([b"{}", b"{}"]), "3"),
        (b"\x00\x00", "1"),
        (pack([b"{}"]), "0"),
        (pack([b"{}"]), "x"),
    ],
)
def test_malformed(payload: bytes, count: str) -> None:
    with pytest.raises(BadRequest):
        publications(payload, count)
