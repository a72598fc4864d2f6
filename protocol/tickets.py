"""Ticket codes: what the QR holds, signed with the event's Ed25519 key.

docs/checkin.md §Offline bundle. A code is URL-safe base64 (no padding) of

    version (1 byte) | event id (varint) | ticket id (varint) | signature (64 bytes)

where the signature covers a domain-separation tag plus the bytes before it.
A scanner holding only the event's public key tells a real code from a forged
or garbled one without a network; a typical code is 90–96 characters, small
enough for a QR code read from a phone screen.

A code has one spelling: any other base64 of the same bytes (the `+/`
alphabet, `=` padding, set unused trailing bits) is refused like garbage, so
that one ticket never passes as several codes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bilten.protocol.errors import BiltenError

CODE_VERSION = 1
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
MAX_CODE_LENGTH = 120
_TAG = b"bilten-ticket-v1:"
_MAX_ID = 2**63 - 1
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidCode(BiltenError):
    """Not a ticket code: garbled, truncated, or a signature that does not verify."""

    code = "invalid"


@dataclass(frozen=True, slots=True)
class TicketRef:
    """What a code names: one ticket of one event."""

    event_id: int
    ticket_id: int


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift <= 63:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and shift:  # a non-minimal encoding: one ticket, one code
                raise InvalidCode("malformed ticket code")
            return value, pos
        shift += 7
    raise InvalidCode("malformed ticket code")


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes | None:
    """The bytes of canonical unpadded base64url (RFC 4648 §5, §3.5), else None.

    Decoders ignore the bits left over after the last whole byte, so the last
    character could vary; re-encoding tells the one canonical spelling apart.
    """
    if not _BASE64URL.fullmatch(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if _encode(raw) == text else None


def _body(ref: TicketRef) -> bytes:
    if not (0 < ref.event_id <= _MAX_ID and 0 < ref.ticket_id <= _MAX_ID):
        raise ValueError("ids must be positive 63-bit integers")
    return bytes((CODE_VERSION,)) + _varint(ref.event_id) + _varint(ref.ticket_id)


def sign_code(key: Ed25519PrivateKey, ref: TicketRef) -> str:
    """The code for `ref`, signed with the event's private key."""
    body = _body(ref)
    return _encode(body + key.sign(_TAG + body))


def parse_code(code: str) -> tuple[TicketRef, bytes, bytes]:
    """Split a code into what it names, the signed bytes and the signature.

    Raises InvalidCode for anything that is not a well-formed code in its one
    canonical spelling (callers strip the scanner's whitespace first); the
    signature is not checked here (the caller picks the key by event id).
    """
    if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE_LENGTH:
        raise InvalidCode("not a ticket code")
    raw = _decode(code)
    if raw is None or len(raw) < 3 + SIGNATURE_BYTES or raw[0] != CODE_VERSION:
        raise InvalidCode("not a ticket code")
    event_id, pos = _read_varint(raw, 1)
    ticket_id, pos = _read_varint(raw, pos)
    if len(raw) - pos != SIGNATURE_BYTES or not event_id or not ticket_id:
        raise InvalidCode("malformed ticket code")
    return TicketRef(event_id, ticket_id), raw[:pos], raw[pos:]


def verify_code(code: str, key: Ed25519PublicKey) -> TicketRef:
    """What a code names, if `key` signed it; InvalidCode otherwise."""
    ref, body, signature = parse_code(code)
    try:
        key.verify(signature, _TAG + body)
    except InvalidSignature:
        raise InvalidCode("signature does not verify") from None
    return ref


def public_key_text(key: Ed25519PublicKey) -> str:
    """A public key as URL-safe base64 of its 32 raw bytes (for bundles and docs)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return _encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Inverse of `public_key_text`, accepting its canonical spelling only."""
    raw = _decode(text) if isinstance(text, str) else None
    if raw is None or len(raw) != PUBLIC_KEY_BYTES:
        raise InvalidCode("malformed public key")
    return Ed25519PublicKey.from_public_bytes(raw)
