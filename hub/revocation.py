"""Revoked connection tokens: the set the accounts worker writes, as every hub sees it.

docs/accounts.md §Revocation. A token carries no id, so a revocation names
a bearer (`org|sub`) and a time: the bearer's tokens issued until then are
refused. The accounts worker adds one when a member is removed or their role
changes; each hub re-reads the whole (small) set every REVOCATION_REFRESH_S
and checks tokens against its copy, so checking costs no round trip, and
closes open sockets whose token it now refuses. Together with the
five-minute lifetime of session tokens, a removed member is out within
REVOCATION_REFRESH_S plus one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import cast

from aiohttp import web
from redis.asyncio import Redis

from bilten.hub.connection import Connection
from bilten.infra.keys import RedisKeys
from bilten.infra.loops import every
from bilten.protocol.accounts import REVOCATION_REFRESH_S
from bilten.protocol.errors import Unauthorized
from bilten.protocol.tokens import Claims


class Revocations:
    """The hub's copy of the revocation set, refreshed from Redis."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._until: dict[str, float] = {}

    def revoked(self, claims: Claims) -> bool:
        """Whether `claims` were issued before their bearer's revocation (`iat` < the score)."""
        until = self._until.get(f"{claims.org}|{claims.sub}")
        return until is not None and claims.iat < until

    def check(self, claims: Claims) -> None:
        """Raise Unauthorized for a revoked token."""
        if self.revoked(claims):
            raise Unauthorized("the token was revoked: get a new one")

    async def refresh(self) -> None:
        """Re-read the set (entries too old to matter are dropped by their writer)."""
        entries = cast(
            list[tuple[bytes, float]],
            await self._redis.zrange(self._keys.revoked(), 0, -1, withscores=True),
        )
        self._until = {member.decode(): float(score) for member, score in entries}

    def close_revoked(self, connections: Iterable[Connection]) -> None:
        """Disconnect the sockets whose token is revoked (`unauthorized`: a new token is needed)."""
        for conn in list(connections):
            if not conn.closed and self.revoked(conn.claims):
                conn.disconnect("unauthorized", "the token was revoked")

    async def run(self, connections: set[Connection], stop: asyncio.Event) -> None:
        """Refresh and close revoked sockets every REVOCATION_REFRESH_S until `stop`."""

        async def once() -> None:
            await self.refresh()
            self.close_revoked(connections)

        await every(REVOCATION_REFRESH_S, once, stop, name="token revocations")


REVOCATIONS = web.AppKey("revocations", Revocations)
