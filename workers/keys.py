"""Events' signing key pairs, cached per worker: ticket codes are signed and verified with them.

Made on first use (an event that never issues a ticket has none) and never
changed, so a worker keeps every key it has read in its `KeyRing`.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


@dataclass(frozen=True, slots=True)
class EventKey:
    """An event's signing key pair."""

    private: Ed25519PrivateKey
    public: Ed25519PublicKey


class KeyRing:
    """Event keys, created on first use and cached (they never change)."""

    def __init__(self) -> None:
        self._keys: dict[int, EventKey] = {}

    async def get(
        self,
        pg: asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy,
        event_id: int,
        *,
        create: bool = False,
    ) -> EventKey | None:
        """The event's key pair; with `create`, made if the event has none yet."""
        key = self._keys.get(event_id)
        if key is not None:
            return key
        if create:
            fresh = Ed25519PrivateKey.generate()
            # Nothing for an event that is gone (deleted while a hub still knew it).
            await pg.execute(
                "INSERT INTO event_keys (event_id, private_key, public_key)"
                " SELECT id, $2, $3 FROM events WHERE id = $1"
                " ON CONFLICT (event_id) DO NOTHING",
                event_id,
                fresh.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
                fresh.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
            )
        raw = await pg.fetchval("SELECT private_key FROM event_keys WHERE event_id = $1", event_id)
        if raw is None:
            return None
        private = Ed25519PrivateKey.from_private_bytes(bytes(raw))
        key = self._keys[event_id] = EventKey(private, private.public_key())
        return key
