"""The account rules of protocol/accounts.py: pure, table-driven."""

from __future__ import annotations

import pytest

from bilten.protocol.accounts import (
    GRANTS,
    MANAGES,
    MEMBER_ROLES,
    MIN_PASSWORD,
    check_manages,
    check_password,
    normalize_email,
    parse_member_role,
)
from bilten.protocol.errors import BadRequest, Forbidden, WeakPassword
from bilten.protocol.tokens import ROLES

COMMON = frozenset({"password1234", "qwertyuiop"})


@pytest.mark.parametrize(
    ("raw", "email"),
    [
        ("amra@example.org", "amra@example.org"),
        ("  Amra.Hadzic+bilten@Example.ORG ", "amra.hadzic+bilten@example.org"),
        ("a@b-c.co", "a@b-c.co"),
    ],
)
def test_addresses_are_normalized(raw: str, email: str) -> None:
    assert normalize_email(raw) == email


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "amra",
        "amra@",
        "@example.org",
        "a b@example.org",
        "a@example",
        7,
        None,
        "a" * 250 + "@x.org",
    ],
)
def test_malformed_addresses_are_refused(raw: object) -> None:
    with pytest.raises(BadRequest) as refused:
        normalize_email(raw)
    assert refused.value.details == {"field": "email"}


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("x" * (MIN_PASSWORD - 1), "too_short"),
        ("x" * 1025, "too_long"),
        ("Password1234", "common"),
        ("QWERTYUIOP", "common"),
        ("amra.hadzic", "email"),
        ("Amra.Hadzic@example.org", "email"),
    ],
)
def test_weak_passwords_name_their_rule(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password(password, "amra.hadzic@example.org", COMMON)
    assert refused.value.details == {"reason": reason}


def test_a_long_uncommon_password_passes() -> None:
    assert check_password("x" * MIN_PASSWORD, "a@example.org", COMMON) == "x" * MIN_PASSWORD


def test_every_member_role_maps_to_a_token_role() -> None:
    assert set(GRANTS) == set(MEMBER_ROLES)
    assert {grant.role for grant in GRANTS.values()} <= set(ROLES)
    assert "service" not in {grant.role for grant in GRANTS.values()}
    assert [role for role, grant in GRANTS.items() if grant.limited] == ["door"]


@pytest.mark.parametrize("action", sorted(MANAGES))
@pytest.mark.parametrize("role", [*MEMBER_ROLES, None])
def test_only_listed_roles_manage(action: str, role: str | None) -> None:
    if role in MANAGES[action]:
        check_manages(role, action, "org-1")  # type: ignore[arg-type]
        return
    with pytest.raises(Forbidden):
        check_manages(role, action, "org-1")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["admin", "", None, 1, "Owner"])
def test_unknown_member_roles_are_refused(value: object) -> None:
    with pytest.raises(BadRequest):
        parse_member_role(value)


def test_a_revocation_round_trips_and_refuses_garbage() -> None:
    from bilten.protocol.accounts import Revocation

    revocation = Revocation("acme|device-7", 1_900_000_000.0)
    assert Revocation.decode(revocation.encode()) == revocation
    for bad in (
        b"",
        b"[]",
        b'{"bearer": "nopipe", "until": 1}',
        b'{"bearer": "a|b"}',
        b'{"bearer": "a|b", "until": true}',
        b'{"bearer": 7, "until": 1}',
    ):
        with pytest.raises(ValueError):
            Revocation.decode(bad)
