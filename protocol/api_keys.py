"""API keys for integrations: their form, what they grant, how long a hub trusts an answer.

docs/accounts.md §API keys. A key is `bk_{id}_{secret}`: the id finds the
row, the secret (stored as its SHA-256) proves it. REST takes a key as a
bearer credential; the hub asks the accounts worker what it grants and keeps
the answer API_KEY_CACHE_S, so the worker (which records the last use) is
asked at most that often. Revoking a key is pushed to every hub, which
forgets the answer at once (docs/accounts.md §Revocation).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Literal

from bilten.protocol.errors import Unauthorized
from bilten.protocol.tokens import Claims

PREFIX = "bk_"
KeyRole = Literal["organizer", "staff", "attendee"]
KEY_ROLES: tuple[KeyRole, ...] = ("organizer", "staff", "attendee")  # never `service`
API_KEY_CACHE_S = 10.0
# A key's claims say they end this long after being resolved: tokens.create with a key
# mints tokens of at most this lifetime (a key itself ends only when revoked).
KEY_CLAIMS_TTL_S = 3600
# Internal request from hubs to the accounts worker, not reachable by clients.
INTERNAL_API_KEY = "apikeys.resolve"
_KEY = re.compile(r"bk_([1-9][0-9]{0,18})_([A-Za-z0-9_-]{43})")
_KEY_SUB = re.compile(r"apikey-([1-9][0-9]{0,18})")


def new_secret() -> str:
    """A key's random part: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def format_key(key_id: int, secret: str) -> str:
    """The key as shown once to its creator."""
    return f"{PREFIX}{key_id}_{secret}"


def is_api_key(credential: str) -> bool:
    """Whether a bearer credential is meant as an API key (rather than a token)."""
    return credential.startswith(PREFIX)


def parse_key(credential: str) -> tuple[int, str]:
    """The id and secret of a key; Unauthorized if it is not well formed."""
    found = _KEY.fullmatch(credential)
    if found is None:
        raise Unauthorized("malformed API key")
    return int(found.group(1)), found.group(2)


def api_key_sub(key_id: int) -> str:
    """The `sub` a key's requests act as (in publications' ids, presence, logs)."""
    return f"apikey-{key_id}"


def api_key_of(sub: str) -> int | None:
    """The key id a `sub` names, or None for any other bearer."""
    found = _KEY_SUB.fullmatch(sub)
    return int(found.group(1)) if found else None


def key_claims(
    key_id: int, org: str, role: KeyRole, events: Sequence[int] | None, now: float
) -> Claims:
    """The claims a key's requests carry: its organization, role and events (None: all)."""
    issued = int(now)
    return Claims(
        sub=api_key_sub(key_id),
        org=org,
        role=role,
        events="*" if events is None else tuple(events),
        gates=None,
        exp=issued + KEY_CLAIMS_TTL_S,
        iat=issued,
    )
