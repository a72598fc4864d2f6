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


@pytest.mark.parametrize(
    "ref",
    [
        TicketRef(1, 1),
        TicketRef(42, 123_456),
        TicketRef(2**31, 2**40),
        TicketRef(2**63 - 1, 2**63 - 1),
    ],
)
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


@pytest.mark.parametrize(
    "garbled",
    [
        "",
        "hello",
        "!!!!",
        "A" * 200,
        "B" * 96,
        sign_code(KEY, TicketRef(1, 2))[:-5],
        sign_code(KEY, TicketRef(1, 2)) + "AAAA",
        "AQEB" + "A" * 86,
    ],
)
def test_garbled_codes_are_invalid(garbled: str) -> None:
    with pytest.raises(InvalidCode) as caught:
        verify_code(garbled, KEY.public_key())
    assert caught.value.code == "invalid"


# --- one spelling per code (docs/checkin.md §Offline bundle) ---


def _lenient(text: str) -> bytes:
    """What a forgiving decoder reads: either alphabet, padding and whitespace ignored."""
    body = text.strip().rstrip("=").replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def _aliases(text: str) -> list[str]:
    """Other spellings of the same bytes: alphabet swaps, trailing bits, padding, spaces."""
    swapped = [
        text[:i] + {"-": "+", "_": "/"}[c] + text[i + 1 :] for i, c in enumerate(text) if c in "-_"
    ]
    swapped.append(text.replace("-", "+").replace("_", "/"))
    unused = len(text) * 6 % 8  # bits of the last character past the last whole byte
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(text[-1])
    flipped = [text[:-1] + alphabet[last ^ mask] for mask in range(1, 2**unused)]
    padded = [text + "=" * n for n in (1, 2, 3)]
    return [*swapped, *flipped, *padded, f" {text}", f"{text}\n"]


def _code_with_both_url_characters() -> str:
    """A real code holding '-' and '_', so that the alphabet swap has both to swap."""
    return next(
        code
        for n in range(1, 1000)
        if "-" in (code := sign_code(KEY, TicketRef(42, n))) and "_" in code
    )


CODE = _code_with_both_url_characters()
ALIASES = _aliases(CODE)


def test_the_aliases_are_the_same_bytes() -> None:
    assert len(CODE) * 6 % 8  # the code has unused bits to flip
    assert len(ALIASES) == len(set(ALIASES)) >= 10
    assert all(_lenient(alias) == _lenient(CODE) for alias in ALIASES)


@pytest.mark.parametrize("alias", ALIASES)
def test_only_the_canonical_spelling_is_a_code(alias: str) -> None:
    assert verify_code(CODE, KEY.public_key()).event_id == 42
    with pytest.raises(InvalidCode) as caught:
        verify_code(alias, KEY.public_key())
    assert (caught.value.code, caught.value.message) == ("invalid", "not a ticket code")


@pytest.mark.parametrize("alias", _aliases(public_key_text(KEY.public_key())))
def test_only_the_canonical_spelling_is_a_public_key(alias: str) -> None:
    with pytest.raises(InvalidCode):
        public_key_from_text(alias)


def test_public_key_text_round_trip() -> None:
    text = public_key_text(KEY.public_key())
    assert len(text) == 43
    code = sign_code(KEY, TicketRef(5, 6))
    assert verify_code(code, public_key_from_text(text)) == TicketRef(5, 6)
    for garbled in ("short", "A" * 44, "", "ü" * 43):
        with pytest.raises(InvalidCode):
            public_key_from_text(garbled)
