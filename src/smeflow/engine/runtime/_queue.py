"""The job queue (procrastinate, in the ``engine`` schema): one job per run, locked per run, and a
periodic sweeper (every 5 s, on whichever worker picks it up) that makes sure no accepted run is
lost.

Each sweep does five things:

1. **Jobs of dead workers are retried.** Every worker writes a heartbeat (procrastinate's
   ``procrastinate_workers`` table) every ``heartbeat_seconds``; a worker whose heartbeat is older
   than ``dead_after_seconds`` is dead (SIGKILL, lost machine, lost network). Its jobs still in
   ``doing`` are *stalled*: the sweeper finds them with ``JobManager.get_stalled_jobs`` and puts
   them back to ``todo`` with ``JobManager.retry_job`` (the run's lock stays on the job, so the
   run still executes on one worker at a time). Workers also prune dead workers' rows when they
   start, which leaves those jobs without a worker: stalled too.
2. **Runs left ``running`` (or ``queued``) whose last job ended badly are queued again**: the last
   ``smeflow.execute_run`` job of the run is ``failed``/``cancelled``/``aborted`` (an exception
   outside the run's own error handling, a worker stopped mid-run) and the run is not finished.
   Both take-overs count on the run (``runs.recoveries``: a retried stalled job keeps its id, so
   counting jobs would miss it): at the ``MAX_JOBS_PER_RUN``-th the sweeper gives up, fails the
   job and fails the run with the internal-error reason (a run that kills its executor every time
   must not loop forever). A manual retry of the run starts the count again.
3. **Runs ``waiting`` at a wait step with no job are queued** (a wake-up lost before it was
   deferred): executing one resumes it if it is due, or schedules its wake-up again. Runs that
   wait for something other than a time are left alone: a pending approval, an event wait with no
   timeout, an unfinished child run (a decision, an event or the child's end queues them). A run
   waiting both for such a thing and, on a parallel branch, for a time is left alone too: its
   wake-up is not recovered if it was lost.
4. **Runs ``queued`` longer than ``sweep_after_seconds`` that may start are deferred** (a defer
   lost after the accepting transaction committed, a crash in between, a lost start of the next
   run); a job already waiting is enough. Paused and cancelled runs are never queued again.
5. **Schedules due within a minute (or overdue) with no fire job get one** (see
   :mod:`smeflow.engine.runtime._schedules`), and trigger keys older than 24 h are pruned.

Admission (see :mod:`._admission`): a job whose run may not start yet (its tenant at its quota,
an earlier run of its order key unfinished) ends at once and leaves the run ``queued``; every
execution that ends defers the tenant's runs that may start now (:meth:`RunQueue.start_next`).

Re-executing a run resumes from its last checkpoint and replays journaled side effects (see the
package docstring for the exact guarantee).

Thresholds (``Settings.worker_heartbeat_seconds`` / ``worker_dead_after_seconds``; the defaults
are procrastinate's): a heartbeat every 10 s, dead after 30 s without one, so a dead worker's runs
resume within ~35 s (30 s + one sweep). ``dead_after_seconds`` must stay well above the longest
pause a *live* worker's event loop can take (a worker wrongly declared dead would have its job
executed twice at once); the tests use 0.5 s / 3 s.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Status
from procrastinate.manager import get_channel_for_queues

from smeflow.core import utcnow
from smeflow.engine.runtime._accepts import Acceptor
from smeflow.engine.runtime._approvals import expire_due
from smeflow.engine.runtime._jobs import EXECUTE_RUN, run_lock
from smeflow.engine.runtime._runtime import ENGINE_OPTIONS, Runtime, engine_conninfo
from smeflow.engine.runtime._schedules import (
    FIRE_SCHEDULE,
    due_schedules,
    fire_lock,
    fire_schedule,
    prune_trigger_keys,
)
from smeflow.engine.runtime._waits import WAKE_PRIORITY, wake_lock

logger = logging.getLogger(__name__)

SWEEP = "smeflow.sweep_queued_runs"
SWEEP_CRON = "* * * * * */5"  # every five seconds
DEFAULT_HEARTBEAT_SECONDS = 10.0
DEFAULT_DEAD_AFTER_SECONDS = 30.0
#: jobs a run may use up (each ending in failure) before the sweeper fails the run
MAX_JOBS_PER_RUN = 5
#: how often an idle worker looks for jobs that became due: a job scheduled for later (a wake-up,
#: a schedule's fire time) starts within this long of its time (LISTEN/NOTIFY only announces a
#: job when it is deferred; procrastinate's own default is 5 s)
POLL_SECONDS = 1.0

# The last execute_run job of each run that ended without finishing the run's job normally.
_ENDED_BADLY = """
SELECT job.args
  FROM procrastinate_jobs job
 WHERE job.task_name = %(task_name)s
   AND job.status IN ('failed', 'cancelled', 'aborted')
   AND NOT EXISTS (
        SELECT 1 FROM procrastinate_jobs newer WHERE newer.lock = job.lock AND newer.id > job.id
   )
 ORDER BY job.id
 LIMIT 1000
"""


#: a timer of :meth:`RunQueue.wake_workers_at` fires this long after the job's time (the job is
#: fetched only once it is due by the database's clock)
TIMER_MARGIN_SECONDS = 0.005
#: timers are set only for jobs due within this long (later ones: the polls)
TIMER_HORIZON_SECONDS = 3600.0
_JOBS_CHANNEL = next(iter(get_channel_for_queues(None)))  # where procrastinate announces every new job
_DUE_NOTIFICATION = '{"type": "job_inserted", "job_id": 0}'
_NOTIFY = "SELECT pg_notify(%(channel)s, %(payload)s)"

# A job waiting under a queueing lock (at most one: procrastinate keeps them unique).
_WAITING_JOB = """
SELECT id FROM procrastinate_jobs WHERE queueing_lock = %(queueing_lock)s AND status = 'todo'
"""

# Which of the given run locks have a job still to do (or doing).
_LOCKS_WITH_JOBS = """
SELECT DISTINCT lock FROM procrastinate_jobs
 WHERE lock = ANY(%(locks)s) AND status IN ('todo', 'doing')
"""

# Which of the given fire jobs' queueing locks have a job still to do (or doing).
_FIRES_WITH_JOBS = """
SELECT DISTINCT queueing_lock FROM procrastinate_jobs
 WHERE queueing_lock = ANY(%(locks)s) AND status IN ('todo', 'doing')
"""


class RunQueue:
    """The procrastinate app bound to a :class:`Runtime`: defers runs and runs workers.

    Use as ``async with RunQueue(runtime) as queue``; :meth:`run_worker` executes jobs."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        sweep_after_seconds: float = 5.0,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        dead_after_seconds: float = DEFAULT_DEAD_AFTER_SECONDS,
        pool_size: int = 4,
    ) -> None:
        if dead_after_seconds <= heartbeat_seconds:
            raise ValueError("dead_after_seconds must be longer than heartbeat_seconds")
        self.runtime = runtime
        self.sweep_after_seconds = sweep_after_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.dead_after_seconds = dead_after_seconds
        connector = procrastinate.PsycopgConnector(
            conninfo=engine_conninfo(runtime.db),
            kwargs={"options": ENGINE_OPTIONS},
            min_size=1,
            max_size=pool_size,
        )
        self.app = procrastinate.App(connector=connector)
        self._pending: set[asyncio.Task[None]] = set()
        #: new runs accepted by this process (webhook calls), stored in batches per tenant
        self.accepts = Acceptor(runtime.db, self)
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._timer_keys = itertools.count()
        self._poke_queued = False

        @self.app.task(name=EXECUTE_RUN)
        async def execute_run(tenant_id: str, run_id: str) -> None:
            tenant, run = uuid.UUID(tenant_id), uuid.UUID(run_id)
            executed = await runtime.execute(tenant, run)
            for other in executed.queued:  # a child it started, or the parent of a child that ended
                await self.defer_run(tenant, other)
            if executed.wake_at is not None:  # waits at a wait step: wake it when it is due
                await self.defer_wake(tenant, run, executed.wake_at)
            if executed.status is not None and executed.kick:  # it left its slot (and key) to the next
                await self.start_next(tenant)

        @self.app.task(name=FIRE_SCHEDULE)
        async def fire(tenant_id: str, workflow_id: str, fire_at: str) -> None:
            tenant, workflow = uuid.UUID(tenant_id), uuid.UUID(workflow_id)
            fired = await fire_schedule(
                runtime.db, tenant, workflow, datetime.fromisoformat(fire_at), queue=self
            )
            for next_at in fired.next_fire_at:
                await self.defer_fire(tenant, workflow, next_at)

        @self.app.periodic(cron=SWEEP_CRON, periodic_id="sweep")
        @self.app.task(name=SWEEP, queueing_lock=SWEEP)
        async def sweep(timestamp: int) -> None:
            await self.sweep()

        self._execute_task = execute_run
        self._fire_task = fire

    async def __aenter__(self) -> RunQueue:
        await self.app.open_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await self.accepts.close()
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

    async def defer_wake(self, tenant_id: uuid.UUID, run_id: uuid.UUID, due: datetime) -> None:
        """Schedule the job that wakes a run waiting at a wait step (one at a time; it is below
        the run's other jobs in priority, so a scheduled wake-up never holds them back), and set
        this process's timer that tells the workers when it is due (see :meth:`wake_workers_at`)."""
        try:
            await self._execute_task.configure(
                lock=run_lock(run_id),
                queueing_lock=wake_lock(run_id),
                priority=WAKE_PRIORITY,
                schedule_at=due,
            ).defer_async(tenant_id=str(tenant_id), run_id=str(run_id))
        except AlreadyEnqueued:
            logger.debug("run %s already has a wake-up waiting", run_id)
        self.wake_workers_at(due)

    def wake_workers_at(self, due: datetime) -> None:
        """At ``due``, tell every worker (procrastinate's new-job notification) to fetch jobs: a
        job scheduled for then starts at once instead of at a worker's next poll. Timers of one
        moment send one notification; a timer lost with its process leaves the job to the polls
        (every ``POLL_SECONDS``). Only for times within :data:`TIMER_HORIZON_SECONDS`."""
        delay = (due - utcnow()).total_seconds() + TIMER_MARGIN_SECONDS
        if delay > TIMER_HORIZON_SECONDS:
            return
        key = next(self._timer_keys)
        self._timers[key] = asyncio.get_running_loop().call_later(max(delay, 0.0), self._timer_fired, key)

    def _timer_fired(self, key: int) -> None:
        self._timers.pop(key, None)
        if not self._poke_queued:
            self._poke_queued = True
            self._background(self._poke_workers())

    async def _poke_workers(self) -> None:
        self._poke_queued = False  # a timer firing from now on needs a notification of its own
        try:
            await self.app.connector.execute_query_async(
                _NOTIFY, channel=_JOBS_CHANNEL, payload=_DUE_NOTIFICATION
            )
        except Exception:
            logger.warning("could not tell the workers a scheduled job is due; they poll", exc_info=True)

    async def defer_fire(self, tenant_id: uuid.UUID, workflow_id: uuid.UUID, fire_at: datetime) -> None:
        """Schedule the workflow's fire job for ``fire_at`` (one per fire time: no duplicate)."""
        try:
            await self._fire_task.configure(
                queueing_lock=fire_lock(workflow_id, fire_at), schedule_at=fire_at
            ).defer_async(tenant_id=str(tenant_id), workflow_id=str(workflow_id), fire_at=fire_at.isoformat())
        except AlreadyEnqueued:
            logger.debug("workflow %s already has a fire job for %s", workflow_id, fire_at)
        self.wake_workers_at(fire_at)

    def defer_fire_soon(self, tenant_id: uuid.UUID, workflow_id: uuid.UUID, fire_at: datetime) -> None:
        """:meth:`defer_fire` in the background (after a commit); a failure is left to the sweeper."""
        task = asyncio.get_running_loop().create_task(
            self._defer_fire_logged(tenant_id, workflow_id, fire_at)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _defer_fire_logged(
        self, tenant_id: uuid.UUID, workflow_id: uuid.UUID, fire_at: datetime
    ) -> None:
        try:
            await self.defer_fire(tenant_id, workflow_id, fire_at)
        except Exception:
            logger.exception("could not schedule the fire job of workflow %s; the sweeper will", workflow_id)

    async def start_next(self, tenant_id: uuid.UUID) -> int:
        """Defer the tenant's queued runs that may start now (a slot or an order key was freed);
        how many."""
        startable = await self.runtime.startable(tenant_id, held=True)
        for run_id in startable:
            await self.defer_run(tenant_id, run_id)
        return len(startable)

    def defer_soon(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """Defer in the background (after a commit); a failure is logged and left to the sweeper."""
        self._background(self._defer_logged(tenant_id, run_id))

    def start_next_soon(self, tenant_id: uuid.UUID) -> None:
        """:meth:`start_next` in the background (after a commit); a failure is left to the sweeper."""
        self._background(self._start_next_logged(tenant_id))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _defer_logged(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        try:
            await self.defer_run(tenant_id, run_id)
        except Exception:
            logger.exception("could not queue run %s; the sweeper will", run_id)

    async def _start_next_logged(self, tenant_id: uuid.UUID) -> None:
        try:
            await self.start_next(tenant_id)
        except Exception:
            logger.exception("could not start the next runs of tenant %s; the sweeper will", tenant_id)

    async def wait_deferred(self) -> None:
        """Wait until the background defers have been sent."""
        while self._pending:
            await asyncio.gather(*list(self._pending))

    async def sweep(self) -> int:
        """Recover stalled jobs, re-queue runs whose last job ended badly, re-defer runs queued
        for longer than ``sweep_after_seconds``; how many jobs and runs it acted on."""
        acted = await self.retry_stalled_jobs()
        acted += await self.requeue_abandoned_runs()
        for tenant_id, run_id in await expire_due(self.runtime.db):  # approvals past their due time
            await self.defer_run(tenant_id, run_id)
            acted += 1
        acted += await self.wake_stranded_runs()
        candidates = await self.runtime.requeue_candidates(self.sweep_after_seconds)
        for tenant_id, run_id in candidates:
            await self.defer_run(tenant_id, run_id)
        acted += await self.schedule_missing_fires()
        await prune_trigger_keys(self.runtime.db)
        return acted + len(candidates)

    async def schedule_missing_fires(self) -> int:
        """Defer the fire job of every schedule due within the sweep horizon (or overdue) that has
        none waiting or running (a defer lost after a publish or a fire, a failed fire job);
        how many."""
        due = await due_schedules(self.runtime.db)
        if not due:
            return 0
        rows = await self.app.connector.execute_query_all_async(
            _FIRES_WITH_JOBS, locks=[fire_lock(workflow, at) for _, workflow, at in due]
        )
        busy = {row["queueing_lock"] for row in rows}
        missing = [(t, w, at) for t, w, at in due if fire_lock(w, at) not in busy]
        for tenant_id, workflow_id, fire_at in missing:
            logger.info("workflow %s has no fire job for %s; scheduling it", workflow_id, fire_at)
            await self.defer_fire(tenant_id, workflow_id, fire_at)
        return len(missing)

    async def wake_stranded_runs(self) -> int:
        """Queue every run waiting at a wait step that has no job (its wake-up was lost); its
        execution resumes it if it is due, or schedules its wake-up again. How many."""
        waiting = await self.runtime.waiting_without_approval()
        if not waiting:
            return 0
        rows = await self.app.connector.execute_query_all_async(
            _LOCKS_WITH_JOBS, locks=[run_lock(run_id) for _, run_id in waiting]
        )
        busy = {row["lock"] for row in rows}
        stranded = [(tenant, run) for tenant, run in waiting if run_lock(run) not in busy]
        for tenant_id, run_id in stranded:
            logger.warning("run %s waits with no wake-up job; queueing it", run_id)
            await self.defer_run(tenant_id, run_id)
        return len(stranded)

    async def retry_stalled_jobs(self) -> int:
        """Put the ``doing`` jobs of dead workers (no heartbeat for ``dead_after_seconds``) back
        to ``todo``; a stalled job whose run already has another job waiting is failed instead
        (that job executes the run; two cannot wait under one queueing lock), and so is the job
        of a run taken over ``MAX_JOBS_PER_RUN`` times (the run fails); how many jobs were acted
        on."""
        manager = self.app.job_manager
        acted = 0
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=self.dead_after_seconds):
            superseded = await self._has_waiting_job(job.queueing_lock)
            if job.task_name == EXECUTE_RUN and await self._gives_up(job.task_kwargs):
                superseded = True
            try:
                if superseded:
                    await manager.finish_job(job, status=Status.FAILED, delete_job=False)
                else:
                    await manager.retry_job(job)
            except ConnectorException:  # another sweeper was first
                logger.debug("stalled job %s was already taken care of", job.id)
                continue
            logger.warning(
                "%s job %s (%s) of a dead worker",
                "failing" if superseded else "retrying",
                job.id,
                job.task_name,
            )
            acted += 1
        return acted

    async def _has_waiting_job(self, queueing_lock: str | None) -> bool:
        if queueing_lock is None:
            return False
        rows = await self.app.connector.execute_query_all_async(_WAITING_JOB, queueing_lock=queueing_lock)
        return bool(rows)

    async def _gives_up(self, args: dict[str, Any]) -> bool:
        """Count a take-over of the run; past ``MAX_JOBS_PER_RUN`` fail it (``True``)."""
        tenant_id, run_id = uuid.UUID(args["tenant_id"]), uuid.UUID(args["run_id"])
        taken_over = await self.runtime.recover(tenant_id, run_id)
        if taken_over is None or taken_over < MAX_JOBS_PER_RUN:
            return False
        logger.error("run %s lost its job %d times; giving up on it", run_id, taken_over)
        if (parent := await self.runtime.abandon(tenant_id, run_id)) is not None:
            await self.defer_run(tenant_id, parent)
        return True

    async def requeue_abandoned_runs(self) -> int:
        """Queue again every unfinished run whose last job failed, was cancelled or aborted (its
        ``MAX_JOBS_PER_RUN``-th take-over fails the run instead); how many runs were queued or
        failed."""
        rows = await self.app.connector.execute_query_all_async(_ENDED_BADLY, task_name=EXECUTE_RUN)
        acted = 0
        for row in rows:
            args: dict[str, Any] = row["args"]
            tenant_id, run_id = uuid.UUID(args["tenant_id"]), uuid.UUID(args["run_id"])
            if not await self.runtime.is_unfinished(tenant_id, run_id):
                continue
            if not await self._gives_up(args):
                logger.warning("run %s was left unfinished by its job; queueing it again", run_id)
                await self.defer_run(tenant_id, run_id)
            acted += 1
        return acted

    async def run_worker(self, *, wait: bool = True, concurrency: int = 10, **options: Any) -> None:
        """Execute jobs until stopped (``wait=False``: until the queue is empty); the worker sends
        a heartbeat every ``heartbeat_seconds``."""
        options.setdefault("update_heartbeat_interval", self.heartbeat_seconds)
        options.setdefault("fetch_job_polling_interval", POLL_SECONDS)
        options.setdefault("stalled_worker_timeout", self.dead_after_seconds)
        await self.app.run_worker_async(
            wait=wait, concurrency=concurrency, install_signal_handlers=False, **options
        )
