"""Fixed-window counters (workers/accounts_limits.count_hits) on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bilten.infra.keys import RedisKeys
from bilten.infra.settings import Settings
from bilten.protocol.errors import RateLimited
from bilten.workers.accounts_limits import count_hits
from tests.waiting import wait_for

HOUR = 3600  # a window no test outlives: its count cannot reset mid-test


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """A client of the test's Redis (its keys carry the test's prefix)."""
    client = aioredis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


async def test_hits_over_the_count_are_refused_until_the_window_ends(
    redis: aioredis.Redis, settings: Settings
) -> None:
    key = RedisKeys(settings.namespace).pairing_attempts("192.0.2.1")
    for _ in range(3):
        await count_hits(redis, [(key, 3, HOUR)], "slow down")
    with pytest.raises(RateLimited) as refused:
        await count_hits(redis, [(key, 3, HOUR)], "slow down")
    assert refused.value.message == "slow down"
    assert 0 < refused.value.details["retry_after"] <= HOUR
    # Another key has its own window.
    await count_hits(redis, [(f"{key}:other", 3, HOUR)], "slow down")


async def test_every_window_counts_the_hit_and_the_longest_wait_is_asked(
    redis: aioredis.Redis, settings: Settings
) -> None:
    keys = RedisKeys(settings.namespace)
    tight, loose = keys.signin_links("email", "digest"), keys.signin_links("address", "192.0.2.1")
    windows = [(tight, 1, HOUR), (loose, 5, 60)]
    await count_hits(redis, windows, "slow down")
    with pytest.raises(RateLimited) as refused:
        await count_hits(redis, windows, "slow down")
    assert await redis.get(loose) == b"2"  # counted, though the tight window refused
    assert 60 < refused.value.details["retry_after"] <= HOUR  # the tight window's wait


async def test_a_window_ends_and_hits_pass_again(redis: aioredis.Redis, settings: Settings) -> None:
    key = RedisKeys(settings.namespace).pairing_attempts("192.0.2.2")
    await count_hits(redis, [(key, 1, 1)], "slow down")

    async def passes() -> bool:
        try:
            await count_hits(redis, [(key, 1, 1)], "slow down")
        except RateLimited:
            return False
        return True

    await wait_for(passes, what="the one-second window to end")
