"""Sub-workflow steps: a ``subworkflow`` step starts a child run of another workflow of the tenant
(by name or id; a version number or the newest published one) with its ``input`` expressions
evaluated, records ``waiting`` and interrupts the run. When the child ends, the parent is queued
again in the same transaction (:func:`wake_parent`, from the runtime's ``_finish``); resumed
(:func:`child_answers`), the step's output is the child's output if it succeeded, and the step
fails with the child's reason if it failed or was cancelled.

Key contracts:

* One child per parent step: the child is started in one transaction with its link to the parent
  (``runs.parent_run_id`` / ``parent_node_id``, unique), so a step executed again finds the child
  it started instead of starting a second one. (A loop that reaches the step again is given the
  same child's outcome: a step runs its child once per run.)
* What cannot be run fails the step with a readable reason: an unknown workflow, one with no
  published version (or not the version named), a chain of more than :data:`MAX_DEPTH` nested
  sub-workflow runs (a workflow that ends up running itself: A → B → A …). A step naming its own
  workflow is refused when the workflow is published and when it is compiled.
* The child is created by ``run:<parent id>`` (``runs.created_by``), audited as the parent run;
  its job is deferred by the queue once the parent's execution ends (:func:`children_of`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph.types import Interrupt, StateSnapshot, interrupt
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.engine.definitions import SubworkflowNode
from smeflow.engine.models import Workflow, WorkflowVersion
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.engine.runtime._cel import resolve
from smeflow.engine.runtime._errors import StepFailed
from smeflow.engine.runtime._runs import start_run

if TYPE_CHECKING:
    from smeflow.engine.runtime._compiler import StepContext

#: sub-workflow runs a chain may nest (the top run not counted): a sixth level fails its step
MAX_DEPTH = 5

# How many runs above ``run`` its chain of parents has (0: not a sub-workflow run).
_DEPTH = text(
    """WITH RECURSIVE chain (id, parent_run_id, depth) AS (
         SELECT id, parent_run_id, 0 FROM runs WHERE tenant_id = :tenant AND id = :run
         UNION ALL
         SELECT r.id, r.parent_run_id, c.depth + 1
           FROM runs r JOIN chain c ON r.tenant_id = :tenant AND r.id = c.parent_run_id
          WHERE c.depth <= :limit
       )
       SELECT max(depth) FROM chain"""
)


@dataclass(frozen=True, slots=True)
class Child:
    """The child run a sub-workflow step waits for, whether this execution started it, and how it
    ended (``None``: it has not)."""

    run_id: uuid.UUID
    workflow_id: uuid.UUID
    version: int
    created: bool
    ended: dict[str, Any] | None = None


def _ended(run: Run) -> dict[str, Any] | None:
    if run.status not in FINISHED_STATUSES:
        return None
    return {"run_id": str(run.id), "status": run.status, "output": run.output, "error": run.error}


async def _workflow(session: AsyncSession, tenant_id: uuid.UUID, ref: str, node_id: str) -> Workflow:
    try:
        by_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        by_id = None
    query = select(Workflow).where(Workflow.tenant_id == tenant_id, Workflow.name == ref)
    if by_id is not None:  # an id, or a name that reads like one: the id first
        query = (
            select(Workflow)
            .where(Workflow.tenant_id == tenant_id, or_(Workflow.id == by_id, Workflow.name == ref))
            .order_by(Workflow.id != by_id)
        )
    found = (await session.execute(query)).scalars().first()
    if found is None:
        raise StepFailed(f"Step {node_id!r}: there is no workflow {ref!r} to run as a sub-workflow")
    return found


async def _version(
    session: AsyncSession, tenant_id: uuid.UUID, workflow: Workflow, wanted: int | str, node_id: str
) -> int:
    if wanted == "latest":
        if workflow.latest_version is None:
            raise StepFailed(
                f"Step {node_id!r}: the workflow {workflow.name!r} has no published version to run yet"
            )
        return workflow.latest_version
    version = (
        await session.execute(
            select(WorkflowVersion.version).where(
                WorkflowVersion.tenant_id == tenant_id,
                WorkflowVersion.workflow_id == workflow.id,
                WorkflowVersion.version == wanted,
            )
        )
    ).scalar_one_or_none()
    if version is None:
        raise StepFailed(
            f"Step {node_id!r}: the workflow {workflow.name!r} has no published version {wanted}"
        )
    return version


async def start_child(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    node_id: str,
    *,
    workflow: str,
    version: int | str,
    input: dict[str, Any],
) -> Child:
    """The child run of the step: the one it started already, else a new one (committed on return)
    of ``workflow`` (a name or an id) at ``version`` (a number or ``"latest"``) with ``input``;
    :class:`StepFailed` if it cannot be started."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        existing = (
            await session.execute(
                select(Run).where(
                    Run.tenant_id == tenant_id, Run.parent_run_id == run_id, Run.parent_node_id == node_id
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return Child(existing.id, existing.workflow_id, existing.version, False, _ended(existing))
        found = await _workflow(session, tenant_id, workflow, node_id)
        number = await _version(session, tenant_id, found, version, node_id)
        depth = (
            await session.execute(_DEPTH, {"tenant": tenant_id, "run": run_id, "limit": MAX_DEPTH})
        ).scalar_one()
        if (depth or 0) + 1 > MAX_DEPTH:
            raise StepFailed(
                f"Step {node_id!r}: sub-workflow runs may nest {MAX_DEPTH} deep at most, so the run of "
                f"{found.name!r} was not started (does a workflow end up running itself?)"
            )
        child = await start_run(
            session,
            Actor("workflow_run", str(run_id)),
            tenant_id,
            found.id,
            input,
            number,
            created_by=f"run:{run_id}",
            parent=(run_id, node_id),
        )
        return Child(child.id, found.id, number, True)


def children_of(interrupts: Iterable[Interrupt]) -> tuple[uuid.UUID, ...]:
    """The child runs the interrupted sub-workflow steps wait for."""
    return tuple(
        uuid.UUID(str(pending.value["child_run_id"]))
        for pending in interrupts
        if isinstance(pending.value, dict) and "child_run_id" in pending.value
    )


async def child_answers(db: Database, tenant_id: uuid.UUID, snapshot: StateSnapshot) -> dict[str, Any]:
    """The resume value of every sub-workflow step of ``snapshot`` whose child has ended, by
    interrupt id: ``{"run_id", "status", "output", "error"}``."""
    waiting = {
        pending.id: uuid.UUID(str(pending.value["child_run_id"]))
        for pending in snapshot.interrupts
        if isinstance(pending.value, dict) and "child_run_id" in pending.value
    }
    if not waiting:
        return {}
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        rows = await session.execute(
            select(Run).where(
                Run.tenant_id == tenant_id,
                Run.id.in_(list(waiting.values())),
                Run.status.in_(sorted(FINISHED_STATUSES)),
            )
        )
        ended = {run.id: _ended(run) for run in rows.scalars()}
    return {key: ended[child] for key, child in waiting.items() if child in ended}


async def wake_parent(session: AsyncSession, child: Run) -> uuid.UUID | None:
    """In the transaction that ends ``child``: queue its parent run again (unless it has ended);
    the parent's id, or ``None`` if nothing was queued."""
    if child.parent_run_id is None:
        return None
    parent = (
        await session.execute(
            select(Run)
            .where(Run.tenant_id == child.tenant_id, Run.id == child.parent_run_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if parent is None or parent.status in FINISHED_STATUSES:
        return None
    parent.status = "queued"
    return parent.id


async def run_subworkflow(
    node: SubworkflowNode, state: dict[str, Any], ctx: StepContext
) -> tuple[Any, Any, dict[str, Any]]:
    """The ``subworkflow`` step: start the child (once), interrupt; resumed, give its output on or
    fail with its reason."""
    config = node.config
    data = resolve(config.input, state, f"step {node.id!r}")
    # On every execution of the step, resumed or not: the child it started already, if any.
    child = await start_child(
        ctx.db,
        ctx.tenant_id,
        ctx.run_id,
        node.id,
        workflow=config.workflow,
        version=config.version,
        input=data,
    )
    given = {
        "workflow": config.workflow,
        "workflow_id": str(child.workflow_id),
        "version": child.version,
        "run_id": str(child.run_id),
    }
    if child.created:
        await ctx.record(node, "waiting", input=given | {"input": data})
    # The first time the run stops here; a child that has ended already (a step executed again, a
    # loop back to the step) gives its outcome at once.
    answer = child.ended or interrupt({"node_id": node.id, "child_run_id": str(child.run_id)})
    status = answer.get("status")
    if status == "succeeded":
        output = answer.get("output") or {}
        return given, output, {"nodes": {node.id: output}}
    if status == "cancelled":
        raise StepFailed(f"Step {node.id!r}: the run of the sub-workflow {config.workflow!r} was cancelled")
    reason = answer.get("error") or "it gave no reason"
    raise StepFailed(f"Step {node.id!r}: the sub-workflow {config.workflow!r} failed: {reason}")


__all__ = [
    "MAX_DEPTH",
    "Child",
    "child_answers",
    "children_of",
    "run_subworkflow",
    "start_child",
    "wake_parent",
]
