"""The job queue (procrastinate, in the ``engine`` schema): one job per run, locked per run, and a
periodic sweeper that re-defers runs left ``queued`` (a defer lost after commit, a crash)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from smeflow.engine.runtime._runtime import ENGINE_OPTIONS, Runtime, engine_conninfo

logger = logging.getLogger(__name__)

EXECUTE_RUN = "smeflow.execute_run"
SWEEP = "smeflow.sweep_queued_runs"
SWEEP_CRON = "* * * * * */5"  # every five seconds


def run_lock(run_id: uuid.UUID) -> str:
    """The queue lock of a run's jobs: one job of a run executes at a time."""
    return f"run:{run_id}"


class RunQueue:
    """The procrastinate app bound to a :class:`Runtime`: defers runs and runs workers.

    Use as ``async with RunQueue(runtime) as queue``; :meth:`run_worker` executes jobs."""

    def __init__(self, runtime: Runtime, *, sweep_after_seconds: float = 5.0, pool_size: int = 4) -> None:
        self.runtime = runtime
        self.sweep_after_seconds = sweep_after_seconds
        connector = procrastinate.PsycopgConnector(
            conninfo=engine_conninfo(runtime.db),
            kwargs={"options": ENGINE_OPTIONS},
            min_size=1,
            max_size=pool_size,
        )
        self.app = procrastinate.App(connector=connector)
        self._pending: set[asyncio.Task[None]] = set()

        @self.app.task(name=EXECUTE_RUN)
        async def execute_run(tenant_id: str, run_id: str) -> None:
            await runtime.execute_run(uuid.UUID(tenant_id), uuid.UUID(run_id))

        @self.app.periodic(cron=SWEEP_CRON, periodic_id="sweep")
        @self.app.task(name=SWEEP, queueing_lock=SWEEP)
        async def sweep(timestamp: int) -> None:
            await self.sweep()

        self._execute_task = execute_run

    async def __aenter__(self) -> RunQueue:
        await self.app.open_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.wait_deferred()
        await self.app.close_async()

    async def defer_run(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """Queue the run's job (a job already waiting for it is enough: no duplicate)."""
        lock = run_lock(run_id)
        try:
            await self._execute_task.configure(lock=lock, queueing_lock=lock).defer_async(
                tenant_id=str(tenant_id), run_id=str(run_id)
            )
        except AlreadyEnqueued:
            logger.debug("run %s already has a job waiting", run_id)

    def defer_soon(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """Defer in the background (after a commit); a failure is logged and left to the sweeper."""
        task = asyncio.get_running_loop().create_task(self._defer_logged(tenant_id, run_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _defer_logged(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        try:
            await self.defer_run(tenant_id, run_id)
        except Exception:
            logger.exception("could not queue run %s; the sweeper will", run_id)

    async def wait_deferred(self) -> None:
        """Wait until the background defers have been sent."""
        while self._pending:
            await asyncio.gather(*list(self._pending))

    async def sweep(self) -> int:
        """Re-defer every run queued for longer than ``sweep_after_seconds``; how many."""
        candidates = await self.runtime.requeue_candidates(self.sweep_after_seconds)
        for tenant_id, run_id in candidates:
            await self.defer_run(tenant_id, run_id)
        return len(candidates)

    async def run_worker(self, *, wait: bool = True, concurrency: int = 10, **options: Any) -> None:
        """Execute jobs until stopped (``wait=False``: until the queue is empty)."""
        await self.app.run_worker_async(
            wait=wait, concurrency=concurrency, install_signal_handlers=False, **options
        )
