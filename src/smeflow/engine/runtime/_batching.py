"""Group commit per tenant: writes of one tenant that arrive while the previous batch of them
commits go together in the next transaction.

Why: every run's start and end appends to its tenant's audit chain, and the chain's head row is
locked from the append to the commit, so one tenant's writes are serialised on it; a process busy
with many runs also holds that lock for as long as its event loop takes to come back to the
transaction. A batch takes the lock once for all of its writes. No write waits for a batch to
fill: one arriving when nothing is being written goes at once (a batch of one), the others wait
at most for the batch in flight.

:class:`TenantBatcher` is the mechanism: ``many(tenant, items)`` writes a batch in one
transaction and gives each item's result, or :data:`ALONE` for an item it left alone (nothing of
it written); those, and every item of a batch that failed, are then written one at a time by
``one(tenant, item)``, so a batch never loses or doubles an item.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: what ``many`` gives for an item it did not write
ALONE: Final[Any] = object()
#: items written in one transaction at most
MAX_BATCH = 100


class TenantBatcher(Generic[T, R]):
    """Batches items per tenant (see the module docstring); :meth:`submit` returns the item's
    result once it has committed. One per process and kind of write."""

    def __init__(
        self,
        name: str,
        many: Callable[[uuid.UUID, list[T]], Awaitable[list[Any]]],
        one: Callable[[uuid.UUID, T], Awaitable[R]],
    ) -> None:
        self.name = name
        self._many = many
        self._one = one
        self._waiting: dict[uuid.UUID, list[tuple[T, asyncio.Future[R]]]] = {}
        self._draining: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, tenant_id: uuid.UUID, item: T) -> R:
        """Write ``item`` in the tenant's next batch; its result."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        self._waiting.setdefault(tenant_id, []).append((item, done))
        if tenant_id not in self._draining:
            self._draining.add(tenant_id)
            task = loop.create_task(self._drain(tenant_id), name=f"smeflow-{self.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    async def close(self) -> None:
        """Wait for the batches being written."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _drain(self, tenant_id: uuid.UUID) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while waiting := self._waiting.get(tenant_id):
                batch, self._waiting[tenant_id] = waiting[:MAX_BATCH], waiting[MAX_BATCH:]
                await self._write(tenant_id, batch)
        finally:  # stopped (cancelled) midway: no caller waits forever
            for _, done in batch + self._waiting.pop(tenant_id, []):
                if not done.done():
                    done.cancel()
            self._draining.discard(tenant_id)

    async def _write(self, tenant_id: uuid.UUID, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await self._many(tenant_id, items)
        except Exception:
            logger.warning("%s: a batch of %d failed; one at a time", self.name, len(items), exc_info=True)
            results = [ALONE] * len(items)
        for (item, done), result in zip(batch, results, strict=True):
            outcome: Any = result
            if result is ALONE:
                try:
                    outcome = await self._one(tenant_id, item)
                except Exception as exc:
                    outcome = exc
            if done.done():  # its caller was cancelled meanwhile (the write stands)
                continue
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)


__all__ = ["ALONE", "MAX_BATCH", "TenantBatcher"]
