"""Presence: who is online per event, counted across every hub.

Each hub keeps local reference counts of (event, role, user) and mirrors them
into one Redis sorted set per event, member `role|user|hub`, scored with the
time it was last confirmed. Joins and leaves are written in batches, one
pipeline per `FLUSH_S` holding one ZADD (and one ZREM) per event with all its
members, so a burst of connects costs one round trip and a few commands, not
two commands per connection. A heartbeat re-confirms this hub's members; the
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

from bilten.infra.keys import RedisKeys

log = logging.getLogger(__name__)

STALE_S = 45.0
HEARTBEAT_S = 15.0
FLUSH_S = 0.05
MEMBERS_PER_COMMAND = 1000  # bounds one command's size, so Redis never stalls on one

Key = tuple[int, str, str]  # (event id, role, user)


class Presence:
    """This hub's share of presence, and the cluster-wide counts."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: RedisKeys,
        *,
        stale_s: float = STALE_S,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self._redis = client
        self._keys = keys
        self.hub_id = secrets.token_hex(4)
        self.stale_s = stale_s
        self.heartbeat_s = heartbeat_s
        self._local: Counter[Key] = Counter()
        self._changed: set[Key] = set()
        self._wake = asyncio.Event()

    def _member(self, role: str, user: str) -> str:
        return f"{role}|{user}|{self.hub_id}"

    def join(self, event_id: int, role: str, user: str) -> None:
        """Count one more connection of `user` at the event on this hub."""
        key: Key = (event_id, role, user)
        self._local[key] += 1
        if self._local[key] == 1:
            self._changed.add(key)
            self._wake.set()

    def leave(self, event_id: int, role: str, user: str) -> None:
        """One connection fewer; the member goes when the user's last one does."""
        key = (event_id, role, user)
        if self._local[key] <= 0:
            return
        self._local[key] -= 1
        if self._local[key] == 0:
            del self._local[key]
            self._changed.add(key)
            self._wake.set()

    async def flush(self) -> None:
        """Write the joins and leaves since the last flush, in one pipeline."""
        changed, self._changed = self._changed, set()
        if not changed:
            return
        joined = [key for key in changed if self._local.get(key, 0) > 0]
        left = [key for key in changed if self._local.get(key, 0) <= 0]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                self._confirm(pipe, joined)
                for event_id, members in self._by_event(left):
                    pipe.zrem(self._keys.presence(event_id), *members)
                await pipe.execute()
        except BaseException:
            self._changed |= changed  # written next time
            raise

    def _confirm(self, pipe: Any, keys: list[Key]) -> None:
        """Queue ZADDs scoring `keys`' members with the time now, and the keys' expiry."""
        now = time.time()
        for event_id, members in self._by_event(keys):
            key = self._keys.presence(event_id)
            pipe.zadd(key, dict.fromkeys(members, now))
            pipe.expire(key, int(self.stale_s * 4))

    def _by_event(self, keys: list[Key]) -> list[tuple[int, list[str]]]:
        """`keys`' members grouped by event, at most MEMBERS_PER_COMMAND to a group."""
        grouped: dict[int, list[str]] = {}
        for event_id, role, user in keys:
            grouped.setdefault(event_id, []).append(self._member(role, user))
        return [
            (event_id, members[start : start + MEMBERS_PER_COMMAND])
            for event_id, members in grouped.items()
            for start in range(0, len(members), MEMBERS_PER_COMMAND)
        ]

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
        """Write changes as they come, re-confirm members every heartbeat; clear on `stop`."""
        next_refresh = time.monotonic() + self.heartbeat_s
        stopping = asyncio.get_running_loop().create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                waking = asyncio.get_running_loop().create_task(self._wake.wait())
                await asyncio.wait(
                    {waking, stopping},
                    return_when=asyncio.FIRST_COMPLETED,
                    timeout=max(0.0, next_refresh - time.monotonic()),
                )
                waking.cancel()
                if stop.is_set():
                    break
                await asyncio.sleep(FLUSH_S)  # gather a burst into one pipeline
                try:
                    await self.flush()
                    if time.monotonic() >= next_refresh:
                        next_refresh = time.monotonic() + self.heartbeat_s
                        await self._refresh()
                except (RedisError, OSError) as error:
                    log.warning("presence write failed: %s", error)
        finally:
            stopping.cancel()
        try:
            await self._clear()
        except (RedisError, OSError) as error:
            log.warning("presence cleanup failed: %s", error)

    async def _refresh(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            self._confirm(pipe, list(self._local))
            await pipe.execute()

    async def _clear(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id, members in self._by_event(list(self._local)):
                pipe.zrem(self._keys.presence(event_id), *members)
            await pipe.execute()
        self._local.clear()
