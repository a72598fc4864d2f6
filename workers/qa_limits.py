"""Per-attendee rate limits of Q&A and reactions, counted in Redis (shared by every qa worker).

docs/engagement.md §Q&A, §Reactions. A window opens with an attendee's first
call and lasts `per_s` seconds; calls beyond `count` in it are refused with
`rate_limited` and `retry_after`, the seconds until the window closes. A
refused call is counted too, so hammering does not shorten the wait.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from bilten.protocol.errors import RateLimited
from bilten.protocol.qa import RateLimit


async def spend(redis: aioredis.Redis, key: str, limit: RateLimit, what: str) -> None:
    """Count one call against `key`; raise RateLimited when it is over `limit`."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=limit.per_s, nx=True)  # the window opens
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = await pipe.execute()
    if count > limit.count:
        raise RateLimited(
            f"at most {limit.count} {what} per {limit.per_s} s: wait",
            retry_after=max(int(ttl), 1),
            limit=limit.count,
            per_s=limit.per_s,
        )
