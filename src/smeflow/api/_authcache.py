"""A short-lived in-memory cache of verified credentials, so a request with a known API key or
session needs no database round trip to authenticate.

Revocation is immediate everywhere: whatever revokes a credential (or changes a role, or what
``/me`` shows) calls ``smeflow.db.publish_auth_change`` in its transaction; every API process LISTENs and
drops the entry when the transaction commits. Entries also expire after ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Generic, TypeVar

import psycopg

from smeflow.db import AUTH_CHANNEL

logger = logging.getLogger(__name__)

V = TypeVar("V")


class AuthCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._max = max_entries
        self._listener: asyncio.Task[None] | None = None

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, value: V, ttl: float | None = None) -> None:
        """Keep ``value`` for ``ttl`` seconds (at most the cache's own ttl)."""
        lifetime = self.ttl if ttl is None else min(ttl, self.ttl)
        if lifetime <= 0:
            return
        self._entries[key] = (time.monotonic() + lifetime, value)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        if key == "*":
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def start_listening(self, conninfo: str) -> None:
        """Follow revocations published by any process (no-op when caching is off)."""
        if self.ttl > 0 and self._listener is None:
            self._listener = asyncio.create_task(self._listen(conninfo), name="smeflow-auth-listener")

    async def _listen(self, conninfo: str) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {AUTH_CHANNEL}")
                    self.drop("*")  # anything may have changed while we were not listening
                    async for note in conn.notifies():
                        self.drop(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: forget everything, retry shortly
                logger.warning("auth cache listener lost its connection; retrying", exc_info=True)
                self.drop("*")
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None


__all__ = ["AuthCache"]
