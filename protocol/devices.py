"""Paired door devices: pairing codes, device tokens and their lifetimes (docs/accounts.md).

A device is named in its token's `sub` (`device-{id}`), so the revocation
set (`org|sub`) refuses one device without touching anyone else's token,
and the check-in worker counts scans by device from the claims alone.
"""

from __future__ import annotations

import re
import secrets

PAIRING_TTL_S = 10 * 60  # a code is typed or scanned at the door within minutes
DEVICE_TOKEN_TTL_S = 180 * 86400  # a season of events; revocation ends it sooner
# Crockford's base32 without 0/1 (read as O/I): easy to read out and type on a phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PAIRING_CODE_LENGTH = 12  # 30**12: about 59 bits, with redemption rate limited per address
PAIRING_CODE = re.compile(f"[{_ALPHABET}]{{{PAIRING_CODE_LENGTH}}}")
# Redemptions one client address may try per window, used or not.
PAIR_ATTEMPTS = 10
PAIR_WINDOW_S = 60
# How often the check-in worker adds its counted scans to the devices table.
USAGE_FLUSH_S = 5.0
_DEVICE_SUB = re.compile(r"device-([1-9][0-9]{0,18})")


def new_pairing_code() -> str:
    """A random pairing code (what the QR's URL and the CLI's --pair carry)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(PAIRING_CODE_LENGTH))


def normalize_pairing_code(value: str) -> str:
    """A code as typed (any case, dashes or spaces between groups) in its stored form."""
    return re.sub(r"[\s-]", "", value).upper()


def device_sub(device_id: int) -> str:
    """The `sub` of a device's token."""
    return f"device-{device_id}"


def device_of(sub: str) -> int | None:
    """The device id a token's `sub` names, or None for any other bearer."""
    found = _DEVICE_SUB.fullmatch(sub)
    return int(found.group(1)) if found else None


def pairing_url(public_url: str, code: str) -> str:
    """The URL a pairing's QR carries: the code in the fragment, which no server logs."""
    return f"{public_url}/pair#code={code}"
