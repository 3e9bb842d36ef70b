"""What the inbox and outbox workers share: finding due rows, waking up, backing off.

Key contracts:

* Due rows are found in the ``platform`` scope, which may read only *pending* rows of
  ``inbox_events`` and ``outbox`` (migration ``0012``); each is then claimed and handled in a
  transaction bound to its own tenant, with ``SELECT … FOR UPDATE SKIP LOCKED``, so any number of
  workers never hold one row at once.
* A worker wakes up when the channel it listens on is notified (at the commit of the transaction
  that wrote the row) and polls every ``poll_seconds`` anyway (a lost notification, a retry that
  became due).
* Backoff after the n-th failed attempt: ``base * 2**(n-1)`` seconds, capped, ± jitter; after
  ``max_attempts`` attempts the row is ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import psycopg
from sqlalchemy import text

from smeflow.db import Database, DbScope, to_libpq
from smeflow.errors import SMEFlowError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """When a failed row is tried again, and when it is given up."""

    max_attempts: int = 8
    base_seconds: float = 2.0
    max_seconds: float = 3600.0
    jitter: float = 0.2

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        raw = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempts - 1)))
        spread = random.uniform(-self.jitter, self.jitter)  # noqa: S311 (jitter, not a secret)
        return float(max(0.0, raw * (1 + spread)))


def safe_message(exc: BaseException, what: str) -> str:
    """A message about ``exc`` fit to store and show a tenant: an SMEFlow error's own (safe by
    contract) message, else only the exception's type (its text may hold anything)."""
    if isinstance(exc, SMEFlowError):
        return f"{exc.code}: {exc.message}"[:1000]
    if isinstance(exc, TimeoutError):
        return f"{what} did not finish in time"
    return f"internal error in {what} ({type(exc).__name__})"


class DueWorker(ABC):
    """A loop that finds due pending rows of ``table`` and handles each (see the module docstring)."""

    table: ClassVar[str]
    channel: ClassVar[str]

    def __init__(
        self, db: Database, *, concurrency: int = 4, batch: int = 100, poll_seconds: float = 1.0
    ) -> None:
        self.db = db
        self.concurrency = concurrency
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    @abstractmethod
    async def handle(self, tenant_id: uuid.UUID, row_id: uuid.UUID) -> bool:
        """Claim and handle one row; False if it was no longer there to claim."""

    async def due(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(tenant_id, id)`` of up to ``batch`` pending rows that are due, oldest due first."""
        query = text(
            f"SELECT tenant_id, id FROM {self.table} "
            "WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT :n"
        )
        async with self.db.transaction(DbScope.platform()) as session:
            rows = (await session.execute(query, {"n": self.batch})).all()
        return [(row[0], row[1]) for row in rows]

    async def run_once(self) -> int:
        """Handle every row due now (up to a batch); how many were handled."""
        found = await self.due()
        if not found:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(tenant_id: uuid.UUID, row_id: uuid.UUID) -> bool:
            async with gate:
                try:
                    return await self.handle(tenant_id, row_id)
                except Exception:  # the database went away mid-row: the row stays pending
                    logger.exception("%s row %s could not be handled", self.table, row_id)
                    return False

        done = await asyncio.gather(*(one(t, i) for t, i in found))
        return sum(done)

    async def run(self) -> None:
        """Work until cancelled: after each notification, and every ``poll_seconds``."""
        listener = asyncio.create_task(self._listen(), name=f"smeflow-{self.table}-listener")
        try:
            while True:
                self._wake.clear()
                try:
                    handled = await self.run_once()
                except Exception:
                    logger.exception("%s worker: the database is not reachable; retrying", self.table)
                    handled = 0
                if handled >= self.batch:
                    continue  # more may be due right now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        conninfo = to_libpq(self.db.app_url)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.channel}")
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # polling goes on meanwhile
                logger.warning("%s listener lost its connection; retrying", self.table, exc_info=True)
                await asyncio.sleep(1.0)


__all__ = ["Backoff", "DueWorker", "safe_message"]
