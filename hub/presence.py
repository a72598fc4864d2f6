"""Presence: who is online per event, counted across every hub.

Each hub keeps local reference counts of (event, role, user) and mirrors them
into one Redis sorted set per event, member `role|user|hub`, scored with the
time it was last confirmed. A heartbeat re-confirms this hub's members; the
count ignores members older than `STALE_S`, so a crashed hub's users vanish
within a minute without anyone cleaning up.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bilten.core.keys import RedisKeys

log = logging.getLogger(__name__)

STALE_S = 45.0
HEARTBEAT_S = 15.0


class Presence:
    """This hub's share of presence, and the cluster-wide counts."""

    def __init__(self, client: aioredis.Redis, keys: RedisKeys, *, stale_s: float = STALE_S,
                 heartbeat_s: float = HEARTBEAT_S) -> None:
        self._redis = client
        self._keys = keys
        self.hub_id = secrets.token_hex(4)
        self.stale_s = stale_s
        self.heartbeat_s = heartbeat_s
        self._local: Counter[tuple[int, str, str]] = Counter()

    def _member(self, role: str, user: str) -> str:
        return f"{role}|{user}|{self.hub_id}"

    async def join(self, event_id: int, role: str, user: str) -> None:
        """Count one more connection of `user` at the event on this hub."""
        key = (event_id, role, user)
        self._local[key] += 1
        if self._local[key] == 1:
            await self._redis.zadd(self._keys.presence(event_id),
                                   {self._member(role, user): time.time()})

    async def leave(self, event_id: int, role: str, user: str) -> None:
        """One connection fewer; the member goes when the user's last one does."""
        key = (event_id, role, user)
        if self._local[key] <= 0:
            return
        self._local[key] -= 1
        if self._local[key] == 0:
            del self._local[key]
            await self._redis.zrem(self._keys.presence(event_id), self._member(role, user))

    async def counts(self, event_id: int) -> dict[str, int]:
        """Distinct online users per role at the event, across all hubs."""
        key = self._keys.presence(event_id)
        now = time.time()
        await self._redis.zremrangebyscore(key, "-inf", now - self.stale_s)
        members: list[Any] = await self._redis.zrangebyscore(key, now - self.stale_s, "+inf")
        users: set[tuple[str, str]] = set()
        for raw in members:
            role, user, _hub = (raw.decode() if isinstance(raw, bytes) else raw).split("|", 2)
            users.add((role, user))
        totals = Counter(role for role, _ in users)
        return {role: totals.get(role, 0) for role in ("attendee", "staff", "organizer")}

    async def heartbeat(self, stop: asyncio.Event) -> None:
        """Re-confirm this hub's members until `stop`; then remove them."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.heartbeat_s)
            except TimeoutError:
                pass
            if stop.is_set():
                break
            try:
                await self._refresh()
            except (RedisError, OSError) as error:
                log.warning("presence heartbeat failed: %s", error)
        try:
            await self._clear()
        except (RedisError, OSError) as error:
            log.warning("presence cleanup failed: %s", error)

    async def _refresh(self) -> None:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id, role, user in list(self._local):
                pipe.zadd(self._keys.presence(event_id), {self._member(role, user): now})
                pipe.expire(self._keys.presence(event_id), int(self.stale_s * 4))
            await pipe.execute()

    async def _clear(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id, role, user in list(self._local):
                pipe.zrem(self._keys.presence(event_id), self._member(role, user))
            await pipe.execute()
        self._local.clear()
