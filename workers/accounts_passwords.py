"""Password hashing for accounts: argon2id, the common-password list, and even timing.

Every sign-in runs exactly one argon2 verification: against the account's
hash, or against a dummy hash made with the same parameters when there is no
such account, so the answer takes as long either way and does not reveal
which addresses have accounts (docs/accounts.md §Security). Hashing runs in a
thread: argon2 releases the GIL, and the worker's loop keeps answering.
"""

from __future__ import annotations

import asyncio
import functools
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_DUMMY_PASSWORD = "bilten dummy password, never an account's"


class Passwords:
    """Hash and verify passwords with one argon2 configuration."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The argon2id hash to store."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with no `stored`, a dummy runs and answers False.

        argon2 compares digests in constant time (argon2-cffi `verify`).
        """
        if self._dummy is None:
            self._dummy = await self.hash(_DUMMY_PASSWORD)
        target = self._dummy if stored is None else stored
        matches = await asyncio.to_thread(self._check, target, password)
        return matches and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was made with other parameters than today's."""
        return self._hasher.check_needs_rehash(stored)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


PASSWORDS = Passwords(PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1))
"""The worker's hasher: argon2id with OWASP's baseline (Password Storage Cheat Sheet:
m=19 MiB, t=2, p=1). argon2-cffi's defaults (64 MiB, t=3, p=4) took 0.35 to 0.95 s a
verification on a busy two-core host, a CPU-second that any sign-in attempt could
make the worker spend; these take about 30 ms there. Hashes with other parameters
are upgraded at the next sign-in (`needs_rehash`)."""


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords (lower-cased), read once."""
    text = resources.files("bilten.workers").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
