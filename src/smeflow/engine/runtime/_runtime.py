"""Executing runs: load the run and its pinned version, compile (cached), run the LangGraph graph
with Postgres checkpoints, record the outcome, prune the checkpoints.

Key contracts: a run executes under a per-run queue lock, so one worker at a time; executing a run
again (a retried job, a crashed worker) resumes from its last checkpoint, and a write or money
step already journaled is not repeated (the exact guarantee is in the package docstring).
Checkpoints live in the ``engine`` schema, on autocommit connections; once a run ends only its
last checkpoint is kept (the one before the step that failed, for a failed run: a retry resumes
there). A waiting run is resumed with what came for it: approvals decided, forms answered, times
due, child runs ended, events taken (an event wins over its wait's timeout); the end of a
sub-workflow run queues its parent in the same transaction. Claiming a queued or woken run admits
it first (the tenant's concurrent-run quota, the order of its key: see :mod:`._admission`); a run
asked to stop is stopped at its claim or at its next step boundary (see :mod:`._stops`).
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
from langgraph.types import Command
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from smeflow.agents import AgentService
from smeflow.connectors import ConnectorRegistry
from smeflow.core import utcnow
from smeflow.core.context import run_id_var, tenant_id_var
from smeflow.db import Database, DbScope, to_libpq
from smeflow.engine.approval_models import Approval
from smeflow.engine.definitions import parse_definition
from smeflow.engine.event_models import EventWait
from smeflow.engine.form_models import Form
from smeflow.engine.run_models import Run
from smeflow.engine.runtime._actions import ActionRegistry, default_actions
from smeflow.engine.runtime._admission import startable
from smeflow.engine.runtime._agents import AgentRegistry, default_agents
from smeflow.engine.runtime._approvals import resume_command
from smeflow.engine.runtime._claiming import any_held, claim, definition_of, quota_parameters
from smeflow.engine.runtime._compiler import RunState, StepContext, build_graph
from smeflow.engine.runtime._errors import UnsupportedNode
from smeflow.engine.runtime._event_waits import event_answers
from smeflow.engine.runtime._finishing import Finisher, stopped, waiting
from smeflow.engine.runtime._forms import form_answers
from smeflow.engine.runtime._http import guarded_client
from smeflow.engine.runtime._keys import thread_id
from smeflow.engine.runtime._messages import SenderRegistry
from smeflow.engine.runtime._outcomes import Claimed, Executed
from smeflow.engine.runtime._saver import FirstRunSaver
from smeflow.engine.runtime._stops import RunStopped, StopSignals
from smeflow.engine.runtime._subworkflows import child_answers
from smeflow.engine.runtime._tenant_agents import TenantAgents
from smeflow.engine.runtime._waits import wake_answers
from smeflow.engine.runtime._wiring import IntegrationKit
from smeflow.errors import SMEFlowError
from smeflow.settings import Settings

logger = logging.getLogger(__name__)

ENGINE_SCHEMA = "engine"
ENGINE_OPTIONS = f"-c search_path={ENGINE_SCHEMA}"
GRAPH_CACHE_SIZE = 512
_INTERNAL = "The run stopped because of an internal error; the operator has been told"

GraphKey = tuple[uuid.UUID, uuid.UUID, int]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled workflow version: its graph and how often its progress is checkpointed."""

    graph: Any
    durability: str


def engine_conninfo(db: Database) -> str:
    """The application role's conninfo for the ``engine`` schema (checkpoints, job queue)."""
    return to_libpq(db.app_url)


class Runtime:
    """Executes runs for one worker process: the checkpointer's pool, an HTTP client for actions
    (calling public addresses only unless ``allow_private_networks``: see :mod:`._http`), the
    actions, agents and message senders, the compiled-graph cache and the stop signals. Use as
    ``async with Runtime(db, settings=settings) as runtime``; with ``settings`` the tiers'
    ``concurrent_runs`` quotas apply (without, runs of a tenant are not limited). ``agents``
    defaults to the built-in ones (the offline ``rules`` agent); ``senders`` to none (a workflow
    that sends a message is refused until the channel's sender is installed)."""

    def __init__(
        self,
        db: Database,
        *,
        settings: Settings | None = None,
        actions: ActionRegistry | None = None,
        agents: AgentRegistry | None = None,
        senders: SenderRegistry | None = None,
        http: httpx.AsyncClient | None = None,
        pool_size: int = 4,
        allow_private_networks: bool = False,
        connectors: ConnectorRegistry | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.stops = StopSignals(to_libpq(db.app_url))
        self.actions = actions or default_actions()
        self.agents = agents if agents is not None else default_agents()
        self.senders = senders if senders is not None else SenderRegistry()
        self._own_http = http is None
        self.http = http or guarded_client(allow_private=allow_private_networks)
        #: tenants' integrations (connectors, vault, payments); their actions are workflow actions
        self.integrations: IntegrationKit | None = None
        if settings is not None:
            self.integrations = IntegrationKit.build(db, settings, self.http, connectors)
            self.integrations.install(self.actions)
            if self.agents.tenants is None:
                self.agents.tenants = TenantAgents(
                    AgentService(db, settings, self.integrations.llm_credentials)
                )
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
        self._finisher = Finisher(db)
        self._saver: FirstRunSaver | None = None
        self._graphs: OrderedDict[GraphKey, Compiled] = OrderedDict()
        if settings is None:
            self._quotas = quota_parameters(None, None)
        else:
            tiers = {name: quota.concurrent_runs for name, quota in settings.tiers.items()}
            self._quotas = quota_parameters(tiers, settings.tier("").concurrent_runs)

    async def __aenter__(self) -> Self:
        await self._pool.open()
        self._saver = FirstRunSaver(self._pool)
        await self.stops.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._finisher.close()
        await self.stops.close()
        await self._pool.close()
        if self._own_http:
            await self.http.aclose()

    @property
    def saver(self) -> FirstRunSaver:
        if self._saver is None:
            raise RuntimeError("the runtime is not open: use `async with Runtime(db)`")
        return self._saver

    def _graph(self, key: GraphKey, claimed: Claimed) -> Compiled:
        compiled = self._graphs.get(key)
        if compiled is None:
            parsed = parse_definition(definition_of(claimed))
            builder = build_graph(parsed, self.actions, agents=self.agents, senders=self.senders)
            compiled = Compiled(builder.compile(checkpointer=self.saver), parsed.durability)
            self._graphs[key] = compiled
            if len(self._graphs) > GRAPH_CACHE_SIZE:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        return compiled

    def concurrent_runs(self, tier: str) -> int | None:
        """How many runs of a tenant on ``tier`` may be running at once (``None``: no limit)."""
        return None if self.settings is None else self.settings.tier(tier).concurrent_runs

    async def _finish(
        self,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        status: str,
        output: dict[str, Any] | None,
        error: str | None,
        events: list[dict[str, Any]] | None = None,
    ) -> uuid.UUID | None:
        """Record the run's end (see :class:`._finishing.Finisher`: batched with the tenant's runs
        ending meanwhile); the parent run it queued again, for a sub-workflow run."""
        return (await self._finisher.finish(tenant_id, run_id, status, output, error, events)).parent

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

    async def _execute(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Executed:
        claimed = await claim(self.db, tenant_id, run_id, self._quotas)
        if isinstance(claimed, Executed):
            return claimed
        try:
            compiled = self._graph((tenant_id, claimed.workflow_id, claimed.version), claimed)
        except UnsupportedNode as exc:
            parent = await self._finish(tenant_id, run_id, "failed", None, exc.message)
            return Executed("failed", queued=(parent,) if parent else ())
        graph = compiled.graph
        config: Any = {"configurable": {"thread_id": thread_id(tenant_id, run_id)}}
        events: list[dict[str, Any]] | None = [] if compiled.durability == "exit" else None
        status, output, error = "failed", None, None
        try:
            resumed: frozenset[str] = frozenset()
            invoke: Any = None
            final: Any = None
            if claimed.fresh:  # its first execution: no checkpoint can exist yet, none is read
                start: RunState = {"input": claimed.input, "vars": {}, "nodes": {}, "failed": {}}
                invoke = start
                self.saver.expect_none(config)
            else:
                snapshot = await graph.aget_state(config)
                if snapshot.created_at is None:  # died before its first checkpoint: start again
                    invoke = {"input": claimed.input, "vars": {}, "nodes": {}, "failed": {}}
                elif snapshot.next or "end" not in snapshot.values:
                    # Resume after a crash, a pause or a failure (retried), or with a person's
                    # decision or answers, or past a due wait, an ended child run, an event.
                    # ``next`` alone is not enough: with background checkpoints a worker may die
                    # after a step's writes were saved but before the next checkpoint; ``next``
                    # is then empty though the run has not reached its end.
                    decided = await resume_command(self.db, tenant_id, snapshot)
                    answers: dict[str, Any] = dict(cast(Any, decided.resume)) if decided is not None else {}
                    answers |= await form_answers(self.db, tenant_id, snapshot)
                    answers |= wake_answers(snapshot, utcnow())
                    answers |= await child_answers(self.db, tenant_id, snapshot)
                    answers |= await event_answers(self.db, tenant_id, run_id, snapshot)  # wins a timeout
                    if snapshot.interrupts and not answers and all(t.interrupts for t in snapshot.tasks):
                        # Nothing it waits for has come (an early job): it stays as it was, so a
                        # wait keeps the due time it computed first.
                        return await waiting(self.db, tenant_id, run_id, snapshot.interrupts)
                    values = {pending.id: pending.value for pending in snapshot.interrupts}
                    resumed = frozenset(
                        str(value["node_id"])
                        for key in answers
                        if isinstance(value := values.get(key), dict) and "node_id" in value
                    )
                    invoke = Command(resume=answers) if answers else None
                else:
                    final = snapshot.values
            if final is None:
                context = StepContext(
                    self.db,
                    tenant_id,
                    run_id,
                    self.actions,
                    self.http,
                    itertools.count(claimed.next_seq),
                    resumed,
                    events=events,
                    fresh=claimed.fresh,
                    stops=self.stops,
                )
                final = await graph.ainvoke(invoke, config, context=context, durability=compiled.durability)
            if final.get("__interrupt__"):  # waits for a person, a time, an event or a child run
                return await waiting(self.db, tenant_id, run_id, final["__interrupt__"], events)
            end = final.get("end")
            if end is None:
                error = "The run stopped without reaching an end step"
            elif end["outcome"] == "failed":
                output, error = end["output"], f"The run ended at the failure step {end['node']!r}"
            else:
                status, output = "succeeded", end["output"]
        except RunStopped:  # asked to cancel or pause: it stopped before its next step
            return await stopped(self.db, tenant_id, run_id, events)
        except SMEFlowError as exc:
            error = exc.message
        except Exception:
            logger.exception("run %s failed with an internal error", run_id)
            error = _INTERNAL
        finally:
            self.saver.forget(config)
        ended = await self._finisher.finish(tenant_id, run_id, status, output, error, events)
        # A first execution with ``exit`` durability that ran to its end wrote one checkpoint.
        prune = not (claimed.fresh and compiled.durability == "exit")
        queued = (ended.parent,) if ended.parent else ()
        return Executed(status, queued=queued, prune=prune, kick=ended.held)

    async def is_unfinished(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> bool:
        """Whether the run exists and is ``queued`` or ``running`` (one a job must still execute)."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            status = (
                await session.execute(select(Run.status).where(Run.tenant_id == tenant_id, Run.id == run_id))
            ).scalar_one_or_none()
        return status in ("queued", "running")

    async def abandon(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> uuid.UUID | None:
        """Fail a run whose jobs keep ending without finishing it (the sweeper gives up); the parent
        run it queued again, if it is a sub-workflow run."""
        return await self._finish(tenant_id, run_id, "failed", None, _INTERNAL)

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

    async def startable(
        self, tenant_id: uuid.UUID, *, older_than: datetime | None = None, held: bool = False
    ) -> list[uuid.UUID]:
        """The tenant's queued runs that may start now (``held``: only those admission held back;
        see :func:`._admission.startable`)."""
        if held and not await any_held(self.db, tenant_id):  # the common case: one round trip
            return []
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            return await startable(session, tenant_id, self.concurrent_runs, older_than=older_than, held=held)

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
        """``(tenant, run)`` of every ``waiting`` run that waits for a time (all tenants): each
        needs a wake-up job. Left out: runs with a pending approval or form, an event wait with no
        timeout or an unfinished child run (an answer, an event, a decision or the child's end
        queues them)."""
        pending = (
            select(Approval.run_id)
            .where(
                Approval.tenant_id == Run.tenant_id,
                Approval.run_id == Run.id,
                Approval.status == "pending",
            )
            .exists()
        )
        asking = (
            select(Form.run_id)
            .where(Form.tenant_id == Run.tenant_id, Form.run_id == Run.id, Form.status == "pending")
            .exists()
        )
        untimed_event = (
            select(EventWait.run_id)
            .where(
                EventWait.tenant_id == Run.tenant_id,
                EventWait.run_id == Run.id,
                EventWait.status == "open",
                EventWait.due_at.is_(None),
            )
            .exists()
        )
        child = aliased(Run)
        running_child = (
            select(child.id)
            .where(
                child.tenant_id == Run.tenant_id,
                child.parent_run_id == Run.id,
                child.status.in_(("queued", "running", "waiting")),
            )
            .exists()
        )
        async with self.db.transaction(DbScope.platform()) as session:
            rows = await session.execute(
                select(Run.tenant_id, Run.id)
                .where(Run.status == "waiting", ~pending, ~asking, ~untimed_event, ~running_child)
                .order_by(Run.created_at)
                .limit(1000)
            )
            return [(row[0], row[1]) for row in rows]
