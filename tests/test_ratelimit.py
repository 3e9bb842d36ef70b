"""Token buckets, in process and in Redis (the machine's Redis on loopback)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

from smeflow.api._ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter

REDIS_URL = os.environ.get("SMEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


async def _limiters() -> list[RateLimiter]:
    limiters: list[RateLimiter] = [LocalRateLimiter()]
    if _redis_up():
        limiters.append(RedisRateLimiter(REDIS_URL))
    elif os.environ.get("CI"):
        pytest.fail("Redis is not running on 127.0.0.1:6379; CI machines start it before the run")
    return limiters


async def test_burst_then_throttle_with_retry_after() -> None:
    for limiter in await _limiters():
        key = f"test:{uuid.uuid4()}"
        allowed = [await limiter.hit(key, rate=1.0, burst=5) for _ in range(5)]
        assert allowed == [None] * 5, type(limiter).__name__
        wait = await limiter.hit(key, rate=1.0, burst=5)
        assert wait is not None
        assert 0 < wait <= 1.0, (type(limiter).__name__, wait)
        await limiter.close()


async def test_buckets_refill_and_keys_are_independent() -> None:
    for limiter in await _limiters():
        a, b = f"test:{uuid.uuid4()}", f"test:{uuid.uuid4()}"
        assert await limiter.hit(a, rate=50.0, burst=1) is None
        assert await limiter.hit(a, rate=50.0, burst=1) is not None
        assert await limiter.hit(b, rate=50.0, burst=1) is None  # another key is unaffected
        await asyncio.sleep(0.05)  # 50 tokens/s: one token back after 20 ms
        assert await limiter.hit(a, rate=50.0, burst=1) is None
        await limiter.close()


async def test_redis_buckets_are_shared_between_limiters() -> None:
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail("Redis is not running on 127.0.0.1:6379")
        pytest.skip("no Redis on 127.0.0.1:6379 outside CI")
    one, two = RedisRateLimiter(REDIS_URL), RedisRateLimiter(REDIS_URL)
    key = f"test:{uuid.uuid4()}"
    assert await one.hit(key, rate=0.1, burst=2) is None
    assert await two.hit(key, rate=0.1, burst=2) is None
    assert await one.hit(key, rate=0.1, burst=2) is not None  # the two API processes share the bucket
    await one.close()
    await two.close()


def test_local_limiter_forgets_least_recent_keys() -> None:
    limiter = LocalRateLimiter(max_keys=2)

    async def run() -> None:
        for key in ("a", "b", "c"):
            await limiter.hit(key, rate=1.0, burst=1)
        assert list(limiter._buckets) == ["b", "c"]

    asyncio.run(run())
