"""The hub's cache of verified tokens: a hit saves the signature check, never the rules."""

from __future__ import annotations

import base64

import pytest

from bilten.hub.auth import VerifiedTokens
from bilten.infra.settings import Settings
from bilten.protocol.errors import TokenExpired, Unauthorized
from bilten.protocol.tokens import encode_token, mint_claims

SECRET = "test-secret-0123456789-0123456789-abcdef"
NOW = 1_700_000_000.0


def _token(sub: str = "alice", ttl_s: int = 60, secret: str = SECRET) -> str:
    claims = mint_claims(sub=sub, org="acme", role="attendee", events=[1], ttl_s=ttl_s, now=NOW)
    return encode_token(claims, secret)


def _cache(size: int = 100) -> VerifiedTokens:
    return VerifiedTokens(Settings(secret=SECRET), size=size)


def test_a_verified_token_is_answered_from_the_cache() -> None:
    tokens, token = _cache(), _token()
    first = tokens.claims(token, NOW)
    assert first.sub == "alice"
    assert tokens.claims(token, NOW + 1) is first
    assert len(tokens) == 1


def test_an_expired_token_is_refused_even_when_cached() -> None:
    tokens, token = _cache(), _token(ttl_s=10)
    assert tokens.claims(token, NOW + 9).sub == "alice"
    with pytest.raises(TokenExpired):
        tokens.claims(token, NOW + 10)  # RFC 7519 §4.1.4: on or after `exp`
    with pytest.raises(TokenExpired):
        tokens.claims(token, NOW + 11)
    assert len(tokens) == 0


def test_a_bad_signature_is_never_accepted_from_the_cache() -> None:
    tokens, token = _cache(), _token()
    tokens.claims(token, NOW)
    header, payload, signature = token.split(".")
    other_header, other_payload, _ = _token(sub="mallory").split(".")
    forged = f"{other_header}.{other_payload}.{signature}"  # a copied signature
    flipped = "A" if signature[0] != "A" else "B"
    altered = f"{header}.{payload}.{flipped}{signature[1:]}"
    foreign = _token(secret="another-secret-0123456789-0123456789")
    for bad in (forged, altered, foreign):
        with pytest.raises(Unauthorized):
            tokens.claims(bad, NOW)
    assert tokens.claims(token, NOW).sub == "alice"
    assert len(tokens) == 1


def test_a_token_refused_once_stays_refused() -> None:
    tokens = _cache()
    header, payload, _ = _token().split(".")
    unsigned = f"{header}.{payload}.{base64.urlsafe_b64encode(b'x' * 32).rstrip(b'=').decode()}"
    for _ in range(2):
        with pytest.raises(Unauthorized):
            tokens.claims(unsigned, NOW)
    assert len(tokens) == 0


def test_the_cache_is_bounded_and_keeps_the_recently_used() -> None:
    tokens = _cache(size=2)
    a, b, c = _token("a"), _token("b"), _token("c")
    kept = tokens.claims(a, NOW)
    tokens.claims(b, NOW)
    tokens.claims(a, NOW)  # a is now the most recently used
    tokens.claims(c, NOW)  # evicts b
    assert len(tokens) == 2
    assert tokens.claims(a, NOW) is kept
