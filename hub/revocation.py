"""Revoked connection tokens: the set the accounts worker writes, as every hub sees it.

docs/accounts.md §Revocation. A token carries no id, so a revocation names
a bearer (`org|sub`) and a time: the bearer's tokens issued until then are
refused. The accounts worker adds one when a member is removed or their role
changes, and publishes it on `Subjects.revocations()`: every hub applies it
as it arrives (before the worker's answer to the revocation, which travels
after it on the same connection) and closes open sockets whose token it now
refuses. A revoked API key (`org|apikey-{id}`) is also dropped from the
hub's key cache (hub/api_keys.py), so its next request is asked of the
worker, which refuses it. Each hub also re-reads the whole (small) set every
REVOCATION_REFRESH_S, so a hub that missed a message (NATS away) catches up
(a missed key ends with its cached grant, as soon); checking costs no round trip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import cast

from aiohttp import web
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from redis.asyncio import Redis

from bilten.hub.api_keys import ApiKeys
from bilten.hub.connection import Connection
from bilten.infra.keys import RedisKeys
from bilten.infra.loops import every
from bilten.protocol.accounts import REVOCATION_REFRESH_S, Revocation
from bilten.protocol.errors import Unauthorized
from bilten.protocol.subjects import Subjects
from bilten.protocol.tokens import Claims

log = logging.getLogger(__name__)


class Revocations:
    """The hub's copy of the revocation set, refreshed from Redis."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._until: dict[str, float] = {}

    def apply(self, revocation: Revocation) -> None:
        """Refuse what one pushed revocation names, at once."""
        known = self._until.get(revocation.bearer, 0.0)
        self._until[revocation.bearer] = max(known, revocation.until)

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

    async def listen(
        self, nc: NATS, subjects: Subjects, connections: set[Connection], api_keys: ApiKeys
    ) -> Subscription:
        """Apply revocations as the accounts worker publishes them, to tokens, open sockets
        and cached API keys; the caller unsubscribes."""

        async def on_revoked(msg: Msg) -> None:
            try:
                revocation = Revocation.decode(msg.data)
            except ValueError as error:
                log.warning("ignored a malformed revocation: %s", error)
                return
            self.apply(revocation)
            self.close_revoked(connections)
            api_keys.forget(revocation.bearer)

        return await nc.subscribe(subjects.revocations(), cb=on_revoked)

    async def run(self, connections: set[Connection], stop: asyncio.Event) -> None:
        """Refresh and close revoked sockets every REVOCATION_REFRESH_S until `stop`."""

        async def once() -> None:
            await self.refresh()
            self.close_revoked(connections)

        await every(REVOCATION_REFRESH_S, once, stop, name="token revocations")


REVOCATIONS = web.AppKey("revocations", Revocations)
