"""Tokens: minting rules, round trips, and every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import jwt
import pytest

from bilten.protocol.errors import BadRequest, Forbidden, TokenExpired, Unauthorized
from bilten.protocol.tokens import (
    DEFAULT_TTL_S,
    MAX_SECONDS,
    MAX_TTL_S,
    MINT_RULES,
    ROLE_RANK,
    ROLES,
    Claims,
    check_mint,
    decode_token,
    default_ttl_s,
    encode_token,
    mint_claims,
)

SECRET = "test-secret-0123456789-0123456789-abcdef"  # >= 32 bytes, as RFC 7518 §3.2 asks
NOW = 1_700_000_000.5
BASE: dict[str, Any] = {
    "sub": "alice",
    "org": "acme",
    "role": "attendee",
    "events": (1, 2),
    "ttl_s": 3600,
    "now": NOW,
}


_DROP = object()  # _payload(name=_DROP) leaves the claim out


def _mint(**overrides: Any) -> Claims:
    return mint_claims(**{**BASE, **overrides})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], payload: dict[str, Any], key: str = SECRET) -> str:
    """A token with any header, HMAC-SHA256-signed by hand (pyjwt would refuse to)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sub": "alice",
        "org": "acme",
        "role": "staff",
        "events": [1],
        "gates": ["north"],
        "exp": int(NOW) + 60,
        "iat": int(NOW),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not _DROP}


# --- minting ---


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, Claims("alice", "acme", "attendee", (1, 2), None, 1_700_003_600, 1_700_000_000)),
        (
            {"events": "*", "role": "organizer"},
            Claims("alice", "acme", "organizer", "*", None, 1_700_003_600, 1_700_000_000),
        ),
        (
            {"events": [3, 1, 3], "role": "staff", "gates": ["north", "B-2"]},
            Claims(
                "alice", "acme", "staff", (1, 3), ("north", "B-2"), 1_700_003_600, 1_700_000_000
            ),
        ),
        (
            {"events": (), "role": "service", "ttl_s": 1},
            Claims("alice", "acme", "service", (), None, 1_700_000_001, 1_700_000_000),
        ),
        (
            {"ttl_s": MAX_TTL_S},
            Claims(
                "alice", "acme", "attendee", (1, 2), None, 1_700_000_000 + MAX_TTL_S, 1_700_000_000
            ),
        ),
        (
            {"sub": "A_b-9" * 12 + "abcd", "org": "o"},
            Claims(
                "A_b-9" * 12 + "abcd", "o", "attendee", (1, 2), None, 1_700_003_600, 1_700_000_000
            ),
        ),
    ],
)
def test_mint(overrides: dict[str, Any], expected: Claims) -> None:
    assert _mint(**overrides) == expected


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sub": ""}, "sub"),
        ({"sub": "a b"}, "sub"),
        ({"sub": "a.b"}, "sub"),
        ({"sub": "x" * 65}, "sub"),
        ({"sub": 5}, "sub"),
        ({"sub": "ü"}, "sub"),
        ({"org": ""}, "org"),
        ({"org": "a*"}, "org"),
        ({"org": None}, "org"),
        ({"role": "admin"}, "role"),
        ({"role": "Organizer"}, "role"),
        ({"role": None}, "role"),
        ({"events": "all"}, "events"),
        ({"events": [0]}, "events"),
        ({"events": [-1]}, "events"),
        ({"events": [True]}, "events"),
        ({"events": ["1"]}, "events"),
        ({"events": [1.0]}, "events"),
        ({"events": [2**63]}, "events"),
        ({"events": list(range(1, 258))}, "events"),
        ({"events": None}, "events"),
        ({"events": {"1": 1}}, "events"),
        ({"events": 5}, "events"),
        *[
            ({"role": "staff", "gates": gates}, "gates")
            for gates in ("north", [""], [1], ["a b"], [str(i) for i in range(65)], [])
        ],
        # Claims that mean nothing for the role (issue 9).
        ({"role": "attendee", "events": ()}, "events"),
        ({"role": "staff", "events": []}, "events"),
        ({"role": "attendee", "gates": ["north"]}, "gates"),
        ({"role": "organizer", "events": "*", "gates": ["north"]}, "gates"),
        ({"role": "service", "events": "*", "gates": ["north"]}, "gates"),
        ({"ttl_s": 0}, "ttl_s"),
        ({"ttl_s": -5}, "ttl_s"),
        ({"ttl_s": MAX_TTL_S + 1}, "ttl_s"),
        ({"ttl_s": 1.5}, "ttl_s"),
        ({"ttl_s": True}, "ttl_s"),
        ({"ttl_s": "60"}, "ttl_s"),
    ],
)
def test_mint_rejects(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        _mint(**overrides)
    assert caught.value.details["field"] == field
    assert field in caught.value.message


def test_meaningful_claims_are_minted() -> None:
    # The limits of the rule above: an organizer without events may still
    # create events, a service covers every event anyway, staff take gates.
    assert _mint(role="organizer", events=()).events == ()
    assert _mint(role="service", events=()).events == ()
    assert _mint(role="staff", gates=["north"]).gates == ("north",)


# --- minting from a token (docs/protocol.md §Minting) ---

PARENT = Claims("org-1", "acme", "organizer", (1, 2), None, 1_700_003_600, 1_700_000_000)
CHILD = Claims("door-1", "acme", "staff", (1,), None, 1_700_001_000, 1_700_000_500)


@pytest.mark.parametrize(
    ("parent", "child", "claim"),
    [
        # role: only roles ranked below the minter's; services mint any.
        ({}, {}, None),
        ({}, {"role": "attendee"}, None),
        ({}, {"role": "organizer"}, "role"),
        ({}, {"role": "service"}, "role"),
        ({"role": "staff"}, {"role": "attendee"}, None),
        ({"role": "staff"}, {}, "role"),
        ({"role": "attendee"}, {"role": "attendee"}, "role"),
        ({"role": "service", "org": "bilten"}, {"role": "service"}, None),
        ({"role": "service", "org": "bilten"}, {"role": "organizer", "events": "*"}, None),
        # org: its own, unless an operator mints.
        ({}, {"org": "rival"}, "org"),
        ({"events": "*"}, {"org": "rival", "events": "*"}, "org"),
        ({"role": "service", "org": "bilten"}, {"org": "rival"}, None),
        # events: a subset, "*" only from "*" (the escalation of issue 8).
        ({}, {"events": (1, 2)}, None),
        ({}, {"events": (2, 3)}, "events"),
        ({}, {"events": "*"}, "events"),
        ({"events": ()}, {"events": (1,)}, "events"),
        ({"events": "*"}, {"events": "*"}, None),
        ({"events": "*"}, {"events": (99,)}, None),
        ({"role": "service", "events": ()}, {"events": "*"}, None),
        # gates: within the minter's, when it has some (and the child takes gates).
        ({}, {"gates": ("north",)}, None),
        ({"role": "staff", "gates": ("north", "south")}, {"role": "attendee"}, None),
        ({"gates": ("north", "south")}, {"gates": ("north",)}, None),
        ({"gates": ("north",)}, {"gates": ("north", "west")}, "gates"),
        ({"gates": ("north",)}, {"gates": None}, "gates"),
        # exp: never after the minter's, unless an operator mints.
        ({}, {"exp": 1_700_003_600}, None),
        ({}, {"exp": 1_700_003_601}, "exp"),
        ({"role": "service"}, {"exp": 1_800_000_000}, None),
    ],
)
def test_check_mint(parent: dict[str, Any], child: dict[str, Any], claim: str | None) -> None:
    minter, minted = replace(PARENT, **parent), replace(CHILD, **child)
    if claim is None:
        check_mint(minter, minted)
        return
    with pytest.raises(Forbidden) as caught:
        check_mint(minter, minted)
    assert caught.value.details == {"field": claim}
    assert caught.value.message.startswith(f"{claim}: ")
    assert caught.value.http_status == 403


def test_every_claim_has_a_mint_rule() -> None:
    assert [claim for claim, _ in MINT_RULES] == ["role", "org", "events", "gates", "exp"]
    assert sorted(ROLE_RANK, key=ROLE_RANK.__getitem__) == [
        "attendee",
        "staff",
        "viewer",
        "organizer",
        "service",
    ]


def test_the_documented_mint_rules_are_the_rules() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text("utf-8")
    section = doc[doc.index("### Minting") : doc.index("## NATS subjects")]
    claims = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert claims == [claim for claim, _ in MINT_RULES]
    assert " < ".join(sorted(ROLE_RANK, key=ROLE_RANK.__getitem__)) in section


def test_mint_names_the_ttl_left() -> None:
    with pytest.raises(Forbidden, match="ttl_s at most 3100"):
        check_mint(PARENT, replace(CHILD, exp=1_700_003_601))


@pytest.mark.parametrize(
    ("parent", "now", "ttl"),
    [
        ({}, 1_700_000_000.9, DEFAULT_TTL_S),
        ({}, 1_700_003_000.2, 600),
        ({}, 1_700_003_599.9, 1),
        ({"role": "service"}, 1_700_003_500.0, DEFAULT_TTL_S),
    ],
)
def test_default_ttl_stays_within_the_minter(parent: dict[str, Any], now: float, ttl: int) -> None:
    minter = replace(PARENT, **parent)
    assert default_ttl_s(minter, now) == ttl
    check_mint(
        minter,
        mint_claims(
            sub="d", org="acme", role="staff", events=[1], ttl_s=default_ttl_s(minter, now), now=now
        ),
    )


# --- claims ---


@pytest.mark.parametrize(
    ("role", "events", "event_id", "event_org", "covered"),
    [
        ("attendee", (1, 2), 1, "acme", True),
        ("attendee", (1, 2), 3, "acme", False),
        ("attendee", (1, 2), 1, "other", False),  # same id, another organization
        ("organizer", "*", 99, "acme", True),
        ("organizer", "*", 99, "other", False),
        ("organizer", (), 1, "acme", False),
        ("service", (), 1, "other", True),
        ("service", "*", 5, "anyone", True),
    ],
)
def test_covers_event(role: str, events: Any, event_id: int, event_org: str, covered: bool) -> None:
    assert _mint(role=role, events=events).covers_event(event_id, event_org) is covered


@pytest.mark.parametrize(
    ("now", "expired"),
    [(NOW, False), (NOW + 3599.4, False), (NOW + 3599.5, True), (NOW + 10_000, True)],
)
def test_expired(now: float, expired: bool) -> None:
    # exp = int(NOW) + 3600 = NOW + 3599.5: expired "on or after" it.
    assert _mint().expired(now) is expired


# --- round trips ---


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"events": "*", "role": "organizer"},
        {"role": "staff", "gates": ["north"]},
        {"role": "service", "events": ()},
    ],
)
def test_round_trip(overrides: dict[str, Any]) -> None:
    claims = _mint(**overrides)
    token = encode_token(claims, SECRET)
    assert decode_token(token, SECRET, now=NOW) == claims


def test_header_pins_hs256() -> None:
    token = encode_token(_mint(), SECRET)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_float_times_are_accepted() -> None:
    token = _forge({"alg": "HS256", "typ": "JWT"}, _payload(exp=NOW + 60.9, iat=NOW))
    claims = decode_token(token, SECRET, now=NOW)
    assert (claims.exp, claims.iat) == (int(NOW + 60.9), int(NOW))


@pytest.mark.parametrize(
    "times",
    [
        {"exp": 2**64},
        {"exp": 1e300},
        {"exp": MAX_SECONDS + 1},
        {"iat": -1e300},
        {"iat": -1},
    ],
)
def test_times_beyond_the_calendar_are_refused(times: dict[str, Any]) -> None:
    """Signed, but no time a clock reads: refused, not an integer too wide to pass on."""
    token = _forge({"alg": "HS256", "typ": "JWT"}, _payload(**times))
    with pytest.raises(Unauthorized):
        decode_token(token, SECRET, now=NOW)


def test_extra_claims_are_ignored() -> None:
    token = _forge({"alg": "HS256", "typ": "JWT"}, _payload(jti="x", nbf=NOW + 10_000))
    assert decode_token(token, SECRET, now=NOW).sub == "alice"


# --- refusals ---


def _tamper_payload() -> str:
    header, _, signature = encode_token(_mint(), SECRET).split(".")
    evil = _b64(json.dumps(_payload(role="organizer", events="*")).encode())
    return f"{header}.{evil}.{signature}"


def _tamper_signature() -> str:
    head, payload, signature = encode_token(_mint(), SECRET).split(".")
    # The first character carries six whole bits (the last one partly padding).
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return f"{head}.{payload}.{flipped}"


def _respelled(segment: int, how: str) -> str:
    """A valid token with one segment spelled otherwise: same bytes, not canonical."""
    parts = encode_token(_mint(), SECRET).split(".")
    text = parts[segment]
    if how == "padding":
        parts[segment] = text + "=" * (-len(text) % 4)
    else:  # flip the unused bits of the last character
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet.index(text[-1]) ^ ((1 << len(text) * 6 % 8) - 1)
        parts[segment] = text[:-1] + alphabet[last]
    return ".".join(parts)


def _unsigned(header: dict[str, Any]) -> str:
    parts = (json.dumps(header).encode(), json.dumps(_payload()).encode())
    return ".".join(_b64(p) for p in parts) + "."


UNAUTHORIZED: list[tuple[str, Any, str]] = [
    # (case, token, a fragment of the reason)
    ("empty", "", "no token"),
    ("not a string", None, "no token"),
    ("not a jwt", "hello", "invalid token"),
    ("three garbage segments", "a.b.c", "invalid token"),
    ("payload tampered", _tamper_payload(), "Signature verification failed"),
    ("signature tampered", _tamper_signature(), "Signature verification failed"),
    (
        "another secret",
        encode_token(_mint(), "another-secret-0123456789-0123456789"),
        "Signature verification failed",
    ),
    ("alg none", _unsigned({"alg": "none", "typ": "JWT"}), "alg value is not allowed"),
    ("alg none, signed", _forge({"alg": "none"}, _payload()), "alg value is not allowed"),
    (
        "RS256 header",
        _forge({"alg": "RS256", "typ": "JWT"}, _payload()),
        "alg value is not allowed",
    ),
    (
        "HS512",
        jwt.encode(_payload(), SECRET + SECRET, algorithm="HS512"),
        "alg value is not allowed",
    ),
    ("HS256 lowercase", _forge({"alg": "hs256"}, _payload()), "alg value is not allowed"),
    ("payload an array", _forge({"alg": "HS256"}, cast(dict[str, Any], [1, 2])), "invalid token"),
    ("role admin", _forge({"alg": "HS256"}, _payload(role="admin")), "role must be"),
    ("events all", _forge({"alg": "HS256"}, _payload(events="all")), "events must be"),
    ("events [0]", _forge({"alg": "HS256"}, _payload(events=[0])), "events must be"),
    ("sub with a space", _forge({"alg": "HS256"}, _payload(sub="a b")), "sub must be"),
    ("org a number", _forge({"alg": "HS256"}, _payload(org=7)), "org must be"),
    ("gates a string", _forge({"alg": "HS256"}, _payload(gates="north")), "gates must be"),
    ("exp a string", _forge({"alg": "HS256"}, _payload(exp="tomorrow")), "exp is not"),
    ("exp a boolean", _forge({"alg": "HS256"}, _payload(exp=True)), "exp is not"),
    ("iat null", _forge({"alg": "HS256"}, _payload(iat=None)), "iat is not"),
    *[
        (f"{name} {how}", _respelled(n, how), "invalid token")
        for n, name in enumerate(("header", "payload", "signature"))
        for how in ("padding", "trailing bits")
        # A segment of a multiple of 4 characters has no other spelling.
        if len(encode_token(_mint(), SECRET).split(".")[n]) % 4
    ],
    *[
        (
            f"missing {name}",
            _forge({"alg": "HS256"}, _payload(**{name: _DROP})),
            f"token lacks claims: {name}",
        )
        for name in ("sub", "org", "role", "events", "exp", "iat")
    ],
]


@pytest.mark.parametrize(
    ("case", "token", "fragment"), UNAUTHORIZED, ids=[c for c, _, _ in UNAUTHORIZED]
)
def test_unauthorized(case: str, token: Any, fragment: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        decode_token(token, SECRET, now=NOW)
    assert fragment in caught.value.message
    assert caught.value.code == "unauthorized"
    assert caught.value.http_status == 401


@pytest.mark.parametrize("now", [NOW + 3600, NOW + 3599.5, NOW + 10**6])
def test_expired_token(now: float) -> None:
    token = encode_token(_mint(), SECRET)
    with pytest.raises(TokenExpired) as caught:
        decode_token(token, SECRET, now=now)
    assert caught.value.code == "token_expired"
    assert caught.value.details["exp"] == 1_700_003_600


def test_expiry_is_checked_against_now_not_the_clock() -> None:
    # Long expired by the wall clock, valid at the given `now`.
    claims = mint_claims(sub="a", org="b", role="staff", events=[1], ttl_s=60, now=1_000.0)
    assert decode_token(encode_token(claims, SECRET), SECRET, now=1_030.0) == claims


def test_tampering_is_checked_before_expiry() -> None:
    stale = replace(_mint(), exp=int(NOW) - 1)
    token = encode_token(stale, "another-secret-0123456789-0123456789")
    with pytest.raises(Unauthorized):
        decode_token(token, SECRET, now=NOW)


@pytest.mark.parametrize(
    "call", [lambda: encode_token(_mint(), ""), lambda: decode_token("a.b.c", "", now=NOW)]
)
def test_empty_secret_is_a_bug(call: Any) -> None:
    with pytest.raises(ValueError, match="secret"):
        call()


def test_roles() -> None:
    assert ROLES == ("organizer", "viewer", "staff", "attendee", "service")
