"""Ticket codes: round trips, size, and every way a code can be wrong."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bilten.protocol.tickets import (
    MAX_CODE_LENGTH,
    InvalidCode,
    TicketRef,
    parse_code,
    public_key_from_text,
    public_key_text,
    sign_code,
    verify_code,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


@pytest.mark.parametrize("ref", [TicketRef(1, 1), TicketRef(42, 123_456),
                                 TicketRef(2**31, 2**40), TicketRef(2**63 - 1, 2**63 - 1)])
def test_round_trip_and_size(ref: TicketRef) -> None:
    code = sign_code(KEY, ref)
    assert verify_code(code, KEY.public_key()) == ref
    assert len(code) <= MAX_CODE_LENGTH
    assert all(c.isalnum() or c in "-_" for c in code)  # URL-safe, no padding


def test_codes_fit_a_phone_qr_for_billions_of_tickets() -> None:
    assert len(sign_code(KEY, TicketRef(2**28 - 1, 2**35 - 1))) <= 100


def test_forged_signature_is_invalid() -> None:
    code = sign_code(OTHER, TicketRef(42, 7))
    with pytest.raises(InvalidCode):
        verify_code(code, KEY.public_key())


def test_changed_ticket_id_is_invalid() -> None:
    raw = bytearray(base64.urlsafe_b64decode(sign_code(KEY, TicketRef(42, 7)) + "=="))
    raw[2] ^= 0x01  # ticket 7 -> 6, signature unchanged
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert parse_code(tampered)[0] == TicketRef(42, 6)
    with pytest.raises(InvalidCode):
        verify_code(tampered, KEY.public_key())


@pytest.mark.parametrize("garbled", ["", "hello", "!!!!", "A" * 200, "B" * 96,
                                     sign_code(KEY, TicketRef(1, 2))[:-5],
                                     sign_code(KEY, TicketRef(1, 2)) + "AAAA",
                                     "AQEB" + "A" * 86])
def test_garbled_codes_are_invalid(garbled: str) -> None:
    with pytest.raises(InvalidCode) as caught:
        verify_code(garbled, KEY.public_key())
    assert caught.value.code == "invalid"


def test_public_key_text_round_trip() -> None:
    text = public_key_text(KEY.public_key())
    assert len(text) == 43
    code = sign_code(KEY, TicketRef(5, 6))
    assert verify_code(code, public_key_from_text(text)) == TicketRef(5, 6)
    with pytest.raises(InvalidCode):
        public_key_from_text("short")
