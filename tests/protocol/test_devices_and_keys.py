"""Pairing codes, device subs and API keys: their forms, parsed both ways (no loop)."""

from __future__ import annotations

import pytest

from bilten.protocol.api_keys import (
    api_key_of,
    api_key_sub,
    format_key,
    is_api_key,
    key_claims,
    new_secret,
    parse_key,
)
from bilten.protocol.devices import (
    PAIRING_CODE,
    device_of,
    device_sub,
    new_pairing_code,
    normalize_pairing_code,
    pairing_url,
)
from bilten.protocol.errors import Unauthorized


def test_new_pairing_codes_match_their_pattern_and_differ() -> None:
    codes = {new_pairing_code() for _ in range(50)}
    assert len(codes) == 50 and all(PAIRING_CODE.fullmatch(c) for c in codes)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("k7qm-4xt9-rpzc", "K7QM4XT9RPZC"), (" K7QM 4XT9 RPZC ", "K7QM4XT9RPZC")],
)
def test_typed_codes_are_normalized(typed: str, stored: str) -> None:
    assert normalize_pairing_code(typed) == stored


def test_the_pairing_url_keeps_the_code_in_the_fragment() -> None:
    assert (
        pairing_url("https://t.example", "K7QM4XT9RPZC")
        == "https://t.example/pair#code=K7QM4XT9RPZC"
    )


@pytest.mark.parametrize(
    ("sub", "device"),
    [(device_sub(17), 17), ("device-0", None), ("device-17x", None), ("account-17", None)],
)
def test_device_of_names_devices_only(sub: str, device: int | None) -> None:
    assert device_of(sub) == device


@pytest.mark.parametrize(
    ("sub", "key"),
    [(api_key_sub(17), 17), ("apikey-0", None), ("apikey-17x", None), (device_sub(17), None)],
)
def test_api_key_of_names_keys_only(sub: str, key: int | None) -> None:
    assert api_key_of(sub) == key


def test_a_key_round_trips() -> None:
    secret = new_secret()
    key = format_key(42, secret)
    assert is_api_key(key) and parse_key(key) == (42, secret)


@pytest.mark.parametrize(
    "bad", ["bk_", "bk_0_" + "a" * 43, "bk_1_" + "a" * 42, "bk_1_" + "a" * 43 + "!", "bk_x_y"]
)
def test_malformed_keys_are_unauthorized(bad: str) -> None:
    with pytest.raises(Unauthorized):
        parse_key(bad)


def test_key_claims_carry_the_keys_scope() -> None:
    claims = key_claims(7, "org-1", "staff", [3, 4], now=1000.5)
    assert (claims.sub, claims.org, claims.role, claims.events) == (
        "apikey-7",
        "org-1",
        "staff",
        (3, 4),
    )
    assert claims.gates is None and claims.iat == 1000 and claims.exp > claims.iat
    assert key_claims(7, "org-1", "organizer", None, now=0).events == "*"
