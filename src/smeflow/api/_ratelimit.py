"""Token-bucket rate limits: in this process, or in Redis so several API processes share them.

``hit(key, rate, burst)`` takes one token from ``key``'s bucket (``burst`` tokens, refilled at
``rate`` per second) and answers None when allowed, or the seconds until a token is free.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import redis.asyncio as aioredis


class RateLimiter(Protocol):
    async def hit(self, key: str, rate: float, burst: int) -> float | None: ...

    async def close(self) -> None: ...


class LocalRateLimiter:
    """Buckets in a bounded LRU dict (the least recently used keys are forgotten, i.e. refilled)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys

    async def hit(self, key: str, rate: float, burst: int) -> float | None:
        now = time.monotonic()
        tokens, stamp = self._buckets.pop(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - stamp) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            allowed = None
        else:
            self._buckets[key] = (tokens, now)
            allowed = (1.0 - tokens) / rate
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return allowed

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1] = bucket; ARGV = rate, burst, now (ms). State: hash {t: tokens, s: stamp ms}.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 's')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """Buckets in Redis, updated atomically by a Lua script (clock: the API process's)."""

    def __init__(self, url: str, prefix: str = "smeflow:rl:") -> None:
        self._redis = aioredis.from_url(url)
        self._script = self._redis.register_script(_LUA)
        self._prefix = prefix

    async def hit(self, key: str, rate: float, burst: int) -> float | None:
        wait = float(
            await self._script(keys=[self._prefix + key], args=[rate, burst, int(time.time() * 1000)])
        )
        return wait if wait > 0 else None

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else LocalRateLimiter()


__all__ = ["LocalRateLimiter", "RateLimiter", "RedisRateLimiter", "make_rate_limiter"]
