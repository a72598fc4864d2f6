"""Password hashing and sign-in limits, without servers: even work, growing delays."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from bilten.workers.accounts_limits import LIMITS, delay_after
from bilten.workers.accounts_passwords import Passwords, common_passwords


class CountingHasher(PasswordHasher):
    """A real argon2 hasher that records the hashes it verifies against."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: Any, password: Any) -> bool:
        self.verified.append(str(hash))
        return super().verify(hash, password)


async def test_an_unknown_account_costs_one_verification_with_the_same_parameters() -> None:
    """Timing without a clock: both paths run exactly one argon2 verify, of equal cost."""
    hasher = CountingHasher()
    passwords = Passwords(hasher)
    stored = await passwords.hash("the right passphrase")

    assert await passwords.verify(stored, "the right passphrase")
    assert not await passwords.verify(stored, "a wrong passphrase")
    assert not await passwords.verify(None, "the right passphrase")
    assert not await passwords.verify(None, "bilten dummy password, never an account's")

    assert len(hasher.verified) == 4
    parameters = {h.rsplit("$", 2)[0] for h in hasher.verified}  # $argon2id$v=19$m=…,t=…,p=…
    assert len(parameters) == 1


def test_the_common_list_is_shipped_and_lower_case() -> None:
    common = common_passwords()
    assert 1000 < len(common) < 5000
    assert "password1234" in common and all(p == p.lower() for p in common)


@pytest.mark.parametrize(
    ("scope", "failures", "delay"),
    [
        ("account", 0, 0.0),
        ("account", 3, 0.0),
        ("account", 4, 60.0),
        ("account", 5, 120.0),
        ("account", 6, 240.0),
        ("account", 40, 3600.0),
        ("address", 10, 0.0),
        ("address", 11, 60.0),
    ],
)
def test_the_delay_grows_after_the_free_failures(scope: str, failures: int, delay: float) -> None:
    assert delay_after(LIMITS[scope], failures) == delay
