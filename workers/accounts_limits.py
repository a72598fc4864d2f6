"""The accounts worker's rate limits, counted in Redis (shared by every accounts worker).

Sign-in (docs/accounts.md §Rate limits): per account and per address, a
growing delay after failures. A few failures are free; after that each one
doubles the wait before the next attempt is even checked, up to an hour. The
counts fade a day after the last failure; a successful sign-in clears the
account's count, not the address's, so one address trying many accounts
keeps slowing down.

Attendee sign-in links and device pairings: fixed windows (`count_hits`),
at most so many requests a window from the first.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from bilten.infra.keys import RedisKeys
from bilten.protocol.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Limit:
    """Failures allowed without delay, then the first delay, doubling up to `max_delay_s`."""

    free: int
    delay_s: float
    max_delay_s: float


# Addresses are shared (offices, mobile carriers' NAT): they get more room than an account.
LIMITS = {"account": Limit(3, 60.0, 3600.0), "address": Limit(10, 60.0, 3600.0)}
FORGET_S = 86400


def delay_after(limit: Limit, failures: int) -> float:
    """Seconds to wait after the last of `failures` failures before another attempt."""
    over = failures - limit.free
    if over <= 0:
        return 0.0
    return float(min(limit.max_delay_s, limit.delay_s * 2.0 ** (over - 1)))


def _keys(keys: RedisKeys, email: str, address: str | None) -> list[tuple[Limit, str]]:
    # Hashed: the keys of a shared Redis need not list who signs in.
    digest = hashlib.sha256(email.encode()).hexdigest()
    found = [(LIMITS["account"], keys.signin_failures("account", digest))]
    if address:
        found.append((LIMITS["address"], keys.signin_failures("address", address)))
    return found


async def check(redis: aioredis.Redis, keys: RedisKeys, email: str, address: str | None) -> None:
    """Raise RateLimited (with `retry_after` seconds) while the account or address must wait."""
    now = time.time()
    wait = 0.0
    for limit, key in _keys(keys, email, address):
        failures, last = await redis.hmget(key, "failures", "last")
        if failures is None or last is None:
            continue
        wait = max(wait, float(last) + delay_after(limit, int(failures)) - now)
    if wait > 0:
        raise RateLimited(
            "too many failed sign-ins: wait before trying again", retry_after=math.ceil(wait)
        )


async def failed(redis: aioredis.Redis, keys: RedisKeys, email: str, address: str | None) -> None:
    """Count a failure against the account and the address."""
    async with redis.pipeline(transaction=True) as pipe:
        for _limit, key in _keys(keys, email, address):
            pipe.hincrby(key, "failures", 1)
            pipe.hset(key, "last", str(time.time()))
            pipe.expire(key, FORGET_S)
        await pipe.execute()


RESET_MAIL_EVERY_S = 60


async def may_mail_reset(redis: aioredis.Redis, keys: RedisKeys, email: str) -> bool:
    """Whether a reset mail may go to `email` now: one a minute, so the form cannot flood a box.

    Not the sign-in limits: an owner locked out by someone's guesses must still
    be able to reset the password.
    """
    key = keys.reset_mail(hashlib.sha256(email.encode()).hexdigest())
    return bool(await redis.set(key, "1", nx=True, ex=RESET_MAIL_EVERY_S))


async def succeeded(redis: aioredis.Redis, keys: RedisKeys, email: str) -> None:
    """Clear the account's failures (the address keeps its own)."""
    await redis.delete(_keys(keys, email, None)[0][1])


async def count_hits(
    redis: aioredis.Redis, windows: Sequence[tuple[str, int, int]], refusal: str
) -> None:
    """Count one hit in each fixed window `(key, count, per_s)`, all in one transaction;
    RateLimited(`refusal`) until every window over its count has ended.

    A window opens with its first hit and ends `per_s` seconds later. Every
    window counts the hit, whether or not another one refuses it.
    """
    async with redis.pipeline(transaction=True) as pipe:
        for key, _count, per_s in windows:
            pipe.set(key, 0, ex=per_s, nx=True)  # the window opens
            pipe.incr(key)
            pipe.ttl(key)
        replies = await pipe.execute()
    wait = 0
    for i, (_key, count, _per_s) in enumerate(windows):
        hits, ttl = replies[3 * i + 1], replies[3 * i + 2]
        if hits > count:
            wait = max(wait, ttl, 1)
    if wait:
        raise RateLimited(refusal, retry_after=wait)
