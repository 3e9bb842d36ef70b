"""Executing runs: load the run and its pinned version, compile (cached), run the LangGraph graph
with Postgres checkpoints, record the outcome, prune the checkpoints.

Key contracts: a run executes under a per-run queue lock, so one worker at a time; executing a run
again (a retried job, a crashed worker) resumes from its last checkpoint, and a write or money
step already journaled is not repeated (the exact guarantee is in the package docstring).
Checkpoints live in the ``engine`` schema, on autocommit connections; once a run ends only its
last checkpoint is kept (the one before the step that failed, for a failed run: a retry resumes
there). Claiming a queued or woken run admits it first (the tenant's concurrent-run quota, the
order of its key: see :mod:`._admission`); a run asked to stop is stopped at its claim or at its
next step boundary (see :mod:`._stops`).
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, cast

import httpx
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.types import Command
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import func, select

from smeflow.audit import Actor, record
from smeflow.core import utcnow
from smeflow.core.context import run_id_var, tenant_id_var
from smeflow.db import Database, DbScope, to_libpq
from smeflow.engine.approval_models import Approval
from smeflow.engine.definitions import parse_definition
from smeflow.engine.models import WorkflowVersion
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.engine.runtime._actions import ActionRegistry, default_actions
from smeflow.engine.runtime._admission import blocked, lock_tenant, startable
from smeflow.engine.runtime._approvals import mark_waiting, resume_command
from smeflow.engine.runtime._compiler import RunState, StepContext, build_graph
from smeflow.engine.runtime._errors import UnsupportedNode
from smeflow.engine.runtime._keys import thread_id
from smeflow.engine.runtime._records import last_event_seq
from smeflow.engine.runtime._stops import RunStopped, StopSignals, apply_stop_request
from smeflow.engine.runtime._waits import next_wake, wake_answers
from smeflow.errors import SMEFlowError
from smeflow.settings import Settings

logger = logging.getLogger(__name__)

ENGINE_SCHEMA = "engine"
ENGINE_OPTIONS = f"-c search_path={ENGINE_SCHEMA}"
GRAPH_CACHE_SIZE = 512
_INTERNAL = "The run stopped because of an internal error; the operator has been told"

GraphKey = tuple[uuid.UUID, uuid.UUID, int]


@dataclass(frozen=True, slots=True)
class Executed:
    """How an execution of a run ended: its status (``None``: nothing was done, or the run may not
    start yet) and, for a run waiting at a ``wait`` step, when to wake it; ``prune``: the run has
    ended, keep only its last checkpoint."""

    status: str | None
    wake_at: datetime | None = None
    prune: bool = False


def engine_conninfo(db: Database) -> str:
    """The application role's conninfo for the ``engine`` schema (checkpoints, job queue)."""
    return to_libpq(db.app_url)


class Runtime:
    """Executes runs for one worker process: the checkpointer's pool, an HTTP client for actions,
    the actions, the compiled-graph cache and the stop signals. Use as
    ``async with Runtime(db, settings=settings) as runtime``; with ``settings`` the tiers'
    ``concurrent_runs`` quotas apply (without, runs of a tenant are not limited)."""

    def __init__(
        self,
        db: Database,
        *,
        settings: Settings | None = None,
        actions: ActionRegistry | None = None,
        http: httpx.AsyncClient | None = None,
        pool_size: int = 4,
    ) -> None:
        self.db = db
        self.settings = settings
        self.stops = StopSignals(to_libpq(db.app_url))
        self.actions = actions or default_actions()
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
        self._pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            engine_conninfo(db),
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0,
                "row_factory": dict_row,
                "options": ENGINE_OPTIONS,
            },
        )
        self._saver: AsyncPostgresSaver | None = None
        self._graphs: OrderedDict[GraphKey, Any] = OrderedDict()

    async def __aenter__(self) -> Self:
        await self._pool.open()
        self._saver = AsyncPostgresSaver(self._pool)
        await self.stops.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stops.close()
        await self._pool.close()
        if self._own_http:
            await self.http.aclose()

    @property
    def saver(self) -> AsyncPostgresSaver:
        if self._saver is None:
            raise RuntimeError("the runtime is not open: use `async with Runtime(db)`")
        return self._saver

    def _graph(self, key: GraphKey, definition: dict[str, Any]) -> Any:
        graph = self._graphs.get(key)
        if graph is None:
            builder = build_graph(parse_definition(definition), self.actions)
            graph = builder.compile(checkpointer=self.saver)
            self._graphs[key] = graph
            if len(self._graphs) > GRAPH_CACHE_SIZE:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        return graph

    def concurrent_runs(self, tier: str) -> int | None:
        """How many runs of a tenant on ``tier`` may be running at once (``None``: no limit)."""
        return None if self.settings is None else self.settings.tier(tier).concurrent_runs

    async def _claim(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> tuple[Run, dict[str, Any]] | Executed:
        """Mark the run running and return it with its pinned definition; or how the claim ended
        (nothing to do, not admitted yet, stopped as it was asked)."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            run = (
                await session.execute(
                    select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
                )
            ).scalar_one_or_none()
            if run is None:
                logger.warning("run %s of tenant %s does not exist; job dropped", run_id, tenant_id)
                return Executed(None)
            if run.status in FINISHED_STATUSES or run.status == "paused":
                # A run cancelled while it was not running still has its checkpoints.
                return Executed(None, prune=run.status == "cancelled")
            if run.stop_request is not None:  # asked to stop while no worker was executing it
                status = await apply_stop_request(session, run)
                return Executed(status, prune=status == "cancelled")
            if run.status != "running":  # queued or woken: it needs a slot and its turn
                await lock_tenant(session, tenant_id)
                reason = await blocked(session, run, self.concurrent_runs)
                if reason is not None:
                    logger.info("run %s does not start yet: %s", run_id, reason)
                    run.status = "queued"  # a woken run, too: started with the others, in order
                    return Executed(None)
            definition = (
                await session.execute(
                    select(WorkflowVersion.definition).where(
                        WorkflowVersion.tenant_id == tenant_id,
                        WorkflowVersion.workflow_id == run.workflow_id,
                        WorkflowVersion.version == run.version,
                    )
                )
            ).scalar_one()
            run.status = "running"
            if run.started_at is None:
                run.started_at = utcnow()
            return run, definition

    async def _finish(
        self,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        status: str,
        output: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            run = (
                await session.execute(
                    select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
                )
            ).scalar_one()
            if run.status in FINISHED_STATUSES:  # cancelled meanwhile: it stays so
                return
            run.status, run.output, run.error, run.finished_at = status, output, error, utcnow()
            run.stop_request = None  # it reached its end before its next step boundary
            await record(
                session,
                tenant_id,
                Actor("workflow_run", str(run_id)),
                f"run.{status}",
                "run",
                str(run_id),
                {"error": error} if error else {},
            )

    async def execute_run(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> str | None:
        """Execute (or resume) a run to its end; returns its final status (``None``: nothing done)."""
        return (await self.execute(tenant_id, run_id)).status

    async def execute(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Executed:
        """Execute (or resume) a run to its end or its next pause; for a run left waiting at a
        ``wait`` step, also when it is due to wake (the queue schedules its wake-up job)."""
        tenant_token, run_token = tenant_id_var.set(str(tenant_id)), run_id_var.set(str(run_id))
        try:
            with self.stops.executing(run_id):
                executed = await self._execute(tenant_id, run_id)
            if executed.prune:
                await self.saver.aprune([thread_id(tenant_id, run_id)], strategy="keep_latest")
            return executed
        finally:
            run_id_var.reset(run_token)
            tenant_id_var.reset(tenant_token)

    async def _stopped(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Executed:
        """The run stopped at a step boundary: apply its stop request."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            run = (
                await session.execute(
                    select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
                )
            ).scalar_one()
            if run.stop_request is None:  # never withdrawn while running; were one, it goes on later
                run.status = "queued"
            status = await apply_stop_request(session, run)
        return Executed(status, prune=status == "cancelled")

    async def _waiting(self, tenant_id: uuid.UUID, run_id: uuid.UUID, interrupts: Any) -> Executed:
        status = await mark_waiting(self.db, tenant_id, run_id)  # paused or cancelled if asked meanwhile
        if status == "waiting":
            return Executed(status, next_wake(interrupts))
        return Executed(status, prune=status == "cancelled")

    async def _execute(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Executed:
        claimed = await self._claim(tenant_id, run_id)
        if isinstance(claimed, Executed):
            return claimed
        run, definition = claimed
        try:
            graph = self._graph((tenant_id, run.workflow_id, run.version), definition)
        except UnsupportedNode as exc:
            await self._finish(tenant_id, run_id, "failed", None, exc.message)
            return Executed("failed")
        config: Any = {"configurable": {"thread_id": thread_id(tenant_id, run_id)}}
        first_seq = await last_event_seq(self.db, tenant_id, run_id) + 1
        status, output, error = "failed", None, None
        try:
            snapshot = await graph.aget_state(config)
            resumed: frozenset[str] = frozenset()
            invoke: Any = None
            if snapshot.created_at is None:
                start: RunState = {"input": run.input, "vars": {}, "nodes": {}, "failed": {}}
                invoke = start
            elif snapshot.next or "end" not in snapshot.values:
                # Resume after a crash, or with a person's decision, or past a wait that is due.
                # ``next`` alone is not enough: checkpoints are written in the background, so a
                # worker may die after a step's writes were saved but before the next checkpoint;
                # ``next`` is then empty though the run has not reached its end.
                decided = await resume_command(self.db, tenant_id, snapshot)
                answers: dict[str, Any] = dict(cast(Any, decided.resume)) if decided is not None else {}
                answers |= wake_answers(snapshot, utcnow())
                if snapshot.interrupts and not answers and all(t.interrupts for t in snapshot.tasks):
                    # Nothing it waits for has come (an early job): it stays as it was, so a
                    # wait keeps the due time it computed first.
                    return await self._waiting(tenant_id, run_id, snapshot.interrupts)
                values = {pending.id: pending.value for pending in snapshot.interrupts}
                resumed = frozenset(
                    str(value["node_id"])
                    for key in answers
                    if isinstance(value := values.get(key), dict) and "node_id" in value
                )
                invoke = Command(resume=answers) if answers else None
            else:
                final: Any = snapshot.values
            if snapshot.created_at is None or snapshot.next or "end" not in snapshot.values:
                context = StepContext(
                    self.db,
                    tenant_id,
                    run_id,
                    self.actions,
                    self.http,
                    itertools.count(first_seq),
                    resumed,
                    self.stops,
                )
                final = await graph.ainvoke(invoke, config, context=context)
            if final.get("__interrupt__"):  # waits for a person (an approval step) or a time
                return await self._waiting(tenant_id, run_id, final["__interrupt__"])
            end = final.get("end")
            if end is None:
                error = "The run stopped without reaching an end step"
            elif end["outcome"] == "failed":
                output, error = end["output"], f"The run ended at the failure step {end['node']!r}"
            else:
                status, output = "succeeded", end["output"]
        except RunStopped:  # asked to cancel or pause: it stopped before its next step
            return await self._stopped(tenant_id, run_id)
        except SMEFlowError as exc:
            error = exc.message
        except Exception:
            logger.exception("run %s failed with an internal error", run_id)
            error = _INTERNAL
        await self._finish(tenant_id, run_id, status, output, error)
        return Executed(status, prune=True)

    async def is_unfinished(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> bool:
        """Whether the run exists and is ``queued`` or ``running`` (one a job must still execute)."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            status = (
                await session.execute(select(Run.status).where(Run.tenant_id == tenant_id, Run.id == run_id))
            ).scalar_one_or_none()
        return status in ("queued", "running")

    async def abandon(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """Fail a run whose jobs keep ending without finishing it (the sweeper gives up)."""
        await self._finish(tenant_id, run_id, "failed", None, _INTERNAL)

    async def recover(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> int | None:
        """Count one more take-over of the run by the sweeper (its worker died, or its job failed);
        how many so far (``None``: the run is not ``queued`` or ``running``: nothing to recover)."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            run = (
                await session.execute(
                    select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
                )
            ).scalar_one_or_none()
            if run is None or run.status not in ("queued", "running"):
                return None
            run.recoveries += 1
            return run.recoveries

    async def startable(self, tenant_id: uuid.UUID, *, older_than: datetime | None = None) -> list[uuid.UUID]:
        """The tenant's queued runs that may start now (see :func:`._admission.startable`)."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            return await startable(session, tenant_id, self.concurrent_runs, older_than=older_than)

    async def requeue_candidates(self, older_than_seconds: float) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(tenant, run)`` of every run queued longer than ``older_than_seconds`` (all tenants)
        that may start now: within its tenant's quota, first of its order key."""
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        async with self.db.transaction(DbScope.platform()) as session:
            tenants = (
                await session.execute(
                    select(Run.tenant_id)
                    .where(Run.status == "queued", Run.created_at < cutoff)
                    .group_by(Run.tenant_id)
                    .order_by(func.min(Run.created_at))
                    .limit(1000)
                )
            ).scalars()
            tenant_ids = list(tenants)
        found: list[tuple[uuid.UUID, uuid.UUID]] = []
        for tenant_id in tenant_ids:
            found += [(tenant_id, run_id) for run_id in await self.startable(tenant_id, older_than=cutoff)]
        return found

    async def waiting_without_approval(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(tenant, run)`` of every ``waiting`` run with no pending approval (all tenants): runs
        at a ``wait`` step, each of which needs a wake-up job."""
        pending = (
            select(Approval.run_id)
            .where(
                Approval.tenant_id == Run.tenant_id,
                Approval.run_id == Run.id,
                Approval.status == "pending",
            )
            .exists()
        )
        async with self.db.transaction(DbScope.platform()) as session:
            rows = await session.execute(
                select(Run.tenant_id, Run.id)
                .where(Run.status == "waiting", ~pending)
                .order_by(Run.created_at)
                .limit(1000)
            )
            return [(row[0], row[1]) for row in rows]
