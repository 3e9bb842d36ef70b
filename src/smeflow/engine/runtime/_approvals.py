"""Human approvals: an ``approval`` step opens a pending approval and interrupts the run (LangGraph
``interrupt()``); a person decides it (:func:`decide`), or its due time passes and the system
applies its default outcome (:func:`expire_due`, called by the queue's periodic sweeper); either
way the run is queued again and the worker resumes the graph with
``Command(resume={"outcome", "comment", "decided_by"})``, which becomes the step's output.

Key contracts:

* One approval per run and node (:func:`open_approval` is idempotent), so a re-executed step
  never asks twice and keeps its first due time.
* A decision is recorded once: deciding a decided approval is :class:`Conflict`; the decider's
  role must be at least the approval's ``role`` (:class:`PermissionDenied`); another tenant's
  approval is :class:`NotFound` (RLS). The decision, its audit event (``approval.decided``) and
  the run going back to ``queued`` commit together; the job is deferred after the commit (and
  the sweeper re-defers a queued run whose job went missing).
* A ``paused`` run stays paused when its approval is decided or expires: the decision is kept
  and the run goes on with it once resumed. A cancelled run's pending approvals are closed as
  ``cancelled`` (see :mod:`._stops`); deciding one is :class:`Conflict`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from langgraph.types import Command, StateSnapshot
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import new_id, utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.approval_models import Approval
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.engine.runtime._runs import _defer_after_commit
from smeflow.engine.runtime._stops import apply_stop_request
from smeflow.engine.runtime._tasks import list_pending_first, pending_cursor
from smeflow.errors import Conflict, NotFound, PermissionDenied
from smeflow.identity import Principal, role_rank

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue

Outcome = Literal["approve", "reject"]
_NO_APPROVAL = "No such approval"
_DECIDED = {"approve": "approved", "reject": "rejected"}
EXPIRY_BATCH = 500


@dataclass(frozen=True, slots=True)
class Opened:
    """The approval a step waits for, and whether this execution of the step opened it."""

    id: uuid.UUID
    created: bool


def _actor(actor: Principal | Actor) -> Actor:
    return actor.actor if isinstance(actor, Principal) else actor


async def open_approval(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    node_id: str,
    *,
    visit: int = 1,
    title: str,
    details: dict[str, Any],
    role: str,
    timeout_seconds: float | None,
    default_outcome: str,
) -> Opened:
    """The run's approval for visit ``visit`` of ``node_id``, created (committed on return) if it
    is the first time the step asks on that visit."""
    now = utcnow()
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        created = (
            await session.execute(
                insert(Approval)
                .values(
                    tenant_id=tenant_id,
                    id=new_id(),
                    run_id=run_id,
                    node_id=node_id,
                    visit=visit,
                    title=title,
                    details=details,
                    role=role,
                    status="pending",
                    due_at=None if timeout_seconds is None else now + timedelta(seconds=timeout_seconds),
                    default_outcome=default_outcome,
                    created_at=now,
                )
                .on_conflict_do_nothing()
                .returning(Approval.id)
            )
        ).scalar_one_or_none()
        if created is not None:
            return Opened(created, True)
        existing = (
            await session.execute(
                select(Approval.id).where(
                    Approval.tenant_id == tenant_id,
                    Approval.run_id == run_id,
                    Approval.node_id == node_id,
                    Approval.visit == visit,
                )
            )
        ).scalar_one()
        return Opened(existing, False)


def decision_of(approval: Approval) -> dict[str, Any]:
    """What a decided approval gives its step (the step's output)."""
    return {"outcome": approval.outcome, "comment": approval.comment, "decided_by": approval.decided_by}


async def resume_command(db: Database, tenant_id: uuid.UUID, snapshot: StateSnapshot) -> Command[Any] | None:
    """How to go on with an interrupted run: ``Command(resume=…)`` with the decision of every
    decided approval it waits for; ``None`` if it waits for none (a crash: resume as it was) or
    none is decided yet (the steps interrupt again)."""
    waiting: dict[str, uuid.UUID] = {}
    for pending in snapshot.interrupts:
        value = pending.value
        if isinstance(value, dict) and "approval_id" in value:
            waiting[pending.id] = uuid.UUID(str(value["approval_id"]))
    if not waiting:
        return None
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        rows = (
            await session.execute(
                select(Approval).where(
                    Approval.tenant_id == tenant_id,
                    Approval.id.in_(list(waiting.values())),
                    Approval.status != "pending",
                )
            )
        ).scalars()
        decided = {row.id: decision_of(row) for row in rows}
    answers = {key: decided[approval] for key, approval in waiting.items() if approval in decided}
    return Command(resume=answers) if answers else None


async def mark_waiting(db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID) -> str:
    """The run waits for a person or a time (unless a decision already queued it again meanwhile;
    a run asked to cancel or pause meanwhile is cancelled or paused instead); its status."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        run = (
            await session.execute(
                select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
            )
        ).scalar_one()
        if run.status != "running":
            return run.status
        if run.stop_request is not None:
            return await apply_stop_request(session, run)
        run.status = "waiting"
        return run.status


async def _settle(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    approval: Approval,
    status: str,
    who: Actor,
    comment: str | None,
    *,
    ended_ok: bool = False,
) -> bool:
    """Record the decision and audit it, in the session's transaction; the run goes back to
    ``queued`` (``True``) unless it is paused (it stays so: ``False``) or has already ended: then
    :class:`Conflict`, or with ``ended_ok`` the decision is recorded all the same and nothing is
    queued (``False``)."""
    run = (
        await session.execute(
            select(Run).where(Run.tenant_id == tenant_id, Run.id == approval.run_id).with_for_update()
        )
    ).scalar_one()
    ended = run.status in FINISHED_STATUSES
    if ended and not ended_ok:
        raise Conflict(f"The run of this approval has already ended ({run.status})")
    approval.status = status
    approval.decided_by = f"{who.type}:{who.id}"
    approval.decided_at = utcnow()
    approval.comment = comment
    queued = not ended and run.status != "paused"
    if queued:
        run.status = "queued"
    await session.flush()
    await record(
        session,
        tenant_id,
        who,
        "approval.decided",
        "approval",
        str(approval.id),
        {
            "run_id": str(approval.run_id),
            "node_id": approval.node_id,
            "status": status,
            "outcome": approval.outcome,
            "comment": comment,
        },
    )
    return queued


async def _locked(session: AsyncSession, tenant_id: uuid.UUID, approval_id: uuid.UUID) -> Approval:
    approval = (
        await session.execute(
            select(Approval)
            .where(Approval.tenant_id == tenant_id, Approval.id == approval_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if approval is None:
        raise NotFound(_NO_APPROVAL)
    return approval


async def decide(
    session: AsyncSession,
    actor: Principal | Actor,
    tenant_id: uuid.UUID,
    approval_id: uuid.UUID,
    outcome: Outcome,
    comment: str | None = None,
    *,
    queue: RunQueue | None = None,
) -> Approval:
    """Approve or reject a pending approval, in the caller's transaction (audited
    ``approval.decided``); its run is queued again (unless paused), and with ``queue`` its job is
    deferred once that transaction commits.

    :class:`NotFound` for another tenant's or an unknown approval; :class:`PermissionDenied` if
    the actor's role is below the approval's ``role``; :class:`Conflict` if it is already decided
    (or its run has ended).
    """
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound(_NO_APPROVAL)
    approval = await _locked(session, tenant_id, approval_id)
    if isinstance(actor, Principal) and role_rank(actor.role) < role_rank(approval.role):
        raise PermissionDenied(f"Deciding this approval needs the {approval.role} role or above")
    if approval.status != "pending":
        raise Conflict(f"The approval has already been decided ({approval.status})")
    queued = await _settle(session, tenant_id, approval, _DECIDED[outcome], _actor(actor), comment)
    if queued and queue is not None:
        _defer_after_commit(session, queue, tenant_id, approval.run_id)
    return approval


async def expire_due(db: Database, actor: Actor | None = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Decide every pending approval past its due time with its default outcome, as the system
    (audited, one transaction each); the ``(tenant, run)`` of each run queued again by it."""
    now = utcnow()
    async with db.transaction(DbScope.platform()) as session:
        due = [
            (row[0], row[1])
            for row in await session.execute(
                select(Approval.tenant_id, Approval.id)
                .where(Approval.status == "pending", Approval.due_at <= now)
                .order_by(Approval.due_at)
                .limit(EXPIRY_BATCH)
            )
        ]
    who = actor or Actor.system()
    queued: list[tuple[uuid.UUID, uuid.UUID]] = []
    for tenant_id, approval_id in due:
        async with db.transaction(DbScope.tenant(tenant_id)) as session:
            approval = await _locked(session, tenant_id, approval_id)
            if approval.status != "pending":
                continue  # decided by a person meanwhile
            if await _settle(session, tenant_id, approval, "expired", who, None, ended_ok=True):
                queued.append((tenant_id, approval.run_id))
    return queued


async def get_approval(session: AsyncSession, tenant_id: uuid.UUID, approval_id: uuid.UUID) -> Approval:
    """One of the tenant's approvals; :class:`NotFound` otherwise."""
    approval = (
        await session.execute(
            select(Approval).where(Approval.tenant_id == tenant_id, Approval.id == approval_id)
        )
    ).scalar_one_or_none()
    if approval is None:
        raise NotFound(_NO_APPROVAL)
    return approval


async def list_approvals(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    limit: int = 50,
    *,
    status: str | None = None,
    run_id: uuid.UUID | None = None,
    after: tuple[int, uuid.UUID] | None = None,
) -> list[Approval]:
    """The tenant's approvals, pending ones first, newest first within each group (in one status,
    of one run, if given); pass :func:`approval_cursor` of the last one seen as ``after``."""
    return await list_pending_first(
        session, Approval, tenant_id, limit, status=status, run_id=run_id, after=after
    )


def approval_cursor(approval: Approval) -> tuple[int, uuid.UUID]:
    """The sort key of an approval in :func:`list_approvals`."""
    return pending_cursor(approval)


__all__ = [
    "Opened",
    "Outcome",
    "approval_cursor",
    "decide",
    "decision_of",
    "expire_due",
    "get_approval",
    "list_approvals",
    "mark_waiting",
    "open_approval",
    "resume_command",
]
