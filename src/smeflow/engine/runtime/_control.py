"""Run control: cancel, pause, resume, and retry a failed run from its failed step.

Key contracts (each a transition of the run, audited in the caller's transaction; the job or
notification it needs is sent once that transaction commits):

* **cancel** (``run.cancelled``): a queued, waiting or paused run is cancelled at once (finished;
  ``error`` says who cancelled it and when; its pending approvals are closed as ``cancelled``; a
  wake-up job still scheduled finds it finished and does nothing). A running run is asked to stop
  (``run.cancel_requested``): it is cancelled at its next step boundary (see :mod:`._stops`).
  Cancelling a finished run is :class:`Conflict`.
* **pause** (``run.paused``): a queued or waiting run is paused at once; a running run is asked to
  (``run.pause_requested``) and pauses at its next step boundary, keeping its last checkpoint (its
  job ends without failing). A paused run stays paused when its approval is decided or its wait
  is due, and does not count against its tenant's quota nor hold its order key. Pausing a paused
  or finished run is :class:`Conflict`.
* **resume** (``run.resumed``): a paused run is queued again and continues from its last
  checkpoint, with whatever came meanwhile (a decision, a wait now due). Anything else is
  :class:`Conflict` (a run still pausing: resume it once it is paused).
* **retry** (``run.retried``): a failed run is queued again and resumes from the step that failed
  (its last checkpoint is the one before that step): the steps before it are not executed again,
  so their side effects are not repeated. A run that ended at a failure end step ends there
  again. Retrying a run that has not failed is :class:`Conflict`.

Another tenant's run is :class:`NotFound` (RLS). Who may do this is the caller's business (the API
asks ``runs:control``: admin or above).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from smeflow.audit import Actor, record
from smeflow.core import utcnow
from smeflow.db import notify
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.engine.runtime._runs import _NO_RUN, _actor, _defer_after_commit
from smeflow.engine.runtime._stops import STOPS_CHANNEL, stop_run
from smeflow.errors import Conflict, NotFound
from smeflow.identity import Principal

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue


async def _locked(
    session: AsyncSession, actor: Principal | Actor, tenant_id: uuid.UUID, run_id: uuid.UUID
) -> Run:
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound(_NO_RUN)
    run = (
        await session.execute(
            select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
        )
    ).scalar_one_or_none()
    if run is None:
        raise NotFound(_NO_RUN)
    return run


def _start_next_after_commit(session: AsyncSession, queue: RunQueue, tenant_id: uuid.UUID) -> None:
    """Once committed, start what may start now (a queued run stopped frees its order key)."""

    def after_commit(_: Session) -> None:
        queue.start_next_soon(tenant_id)

    event.listen(session.sync_session, "after_commit", after_commit, once=True)


async def _ask_to_stop(session: AsyncSession, run: Run, kind: str, who: Actor) -> Run:
    run.stop_request = kind
    run.stopped_by, run.stopped_at = f"{who.type}:{who.id}", utcnow()
    await session.flush()
    await record(session, run.tenant_id, who, f"run.{kind}_requested", "run", str(run.id), {})
    await notify(session, STOPS_CHANNEL, str(run.id))  # heard by its worker once this commits
    return run


async def _stop_now(session: AsyncSession, run: Run, kind: str, who: Actor, queue: RunQueue | None) -> Run:
    was = run.status
    closed = await stop_run(session, run, kind, f"{who.type}:{who.id}", utcnow())
    details: dict[str, object] = {"was": was}
    if closed:
        details["approvals_closed"] = closed
    await record(session, run.tenant_id, who, f"run.{run.status}", "run", str(run.id), details)
    if queue is not None:
        if kind == "cancel":  # its job finds it finished and keeps only its last checkpoint
            _defer_after_commit(session, queue, run.tenant_id, run.id)
        _start_next_after_commit(session, queue, run.tenant_id)
    return run


async def cancel_run(
    session: AsyncSession,
    actor: Principal | Actor,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    queue: RunQueue | None = None,
) -> Run:
    """Cancel the run: at once unless it is running (then at its next step boundary)."""
    run = await _locked(session, actor, tenant_id, run_id)
    if run.status in FINISHED_STATUSES:
        raise Conflict(f"The run has already ended ({run.status}); only an unfinished run can be cancelled")
    who = _actor(actor)
    if run.status == "running":
        if run.stop_request == "cancel":
            return run  # already asked: it stops at its next step
        return await _ask_to_stop(session, run, "cancel", who)
    return await _stop_now(session, run, "cancel", who, queue)


async def pause_run(
    session: AsyncSession,
    actor: Principal | Actor,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    queue: RunQueue | None = None,
) -> Run:
    """Pause the run: at once if it is queued or waiting, at its next step boundary if running."""
    run = await _locked(session, actor, tenant_id, run_id)
    if run.status in FINISHED_STATUSES:
        raise Conflict(f"The run has already ended ({run.status}); only an unfinished run can be paused")
    if run.status == "paused":
        raise Conflict("The run is already paused")
    who = _actor(actor)
    if run.status == "running":
        if run.stop_request == "cancel":
            raise Conflict("The run is being cancelled; it stops at its next step")
        if run.stop_request == "pause":
            return run  # already asked: it pauses at its next step
        return await _ask_to_stop(session, run, "pause", who)
    return await _stop_now(session, run, "pause", who, queue)


async def resume_run(
    session: AsyncSession,
    actor: Principal | Actor,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    queue: RunQueue | None = None,
) -> Run:
    """Queue a paused run again: it continues from its last checkpoint."""
    run = await _locked(session, actor, tenant_id, run_id)
    if run.status == "running" and run.stop_request == "pause":
        raise Conflict("The run is pausing at its next step; resume it once it is paused")
    if run.status != "paused":
        raise Conflict(f"Only a paused run can be resumed; this one is {run.status}")
    paused_by = run.stopped_by
    run.status, run.stopped_by, run.stopped_at = "queued", None, None
    await session.flush()
    await record(
        session, tenant_id, _actor(actor), "run.resumed", "run", str(run.id), {"paused_by": paused_by}
    )
    if queue is not None:
        _defer_after_commit(session, queue, tenant_id, run.id)
    return run


async def retry_run(
    session: AsyncSession,
    actor: Principal | Actor,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    queue: RunQueue | None = None,
) -> Run:
    """Queue a failed run again: it resumes from the step that failed."""
    run = await _locked(session, actor, tenant_id, run_id)
    if run.status != "failed":
        raise Conflict(f"Only a failed run can be retried; this one is {run.status}")
    error = run.error
    run.status, run.output, run.error, run.finished_at = "queued", None, None, None
    run.recoveries = 0
    await session.flush()
    await record(session, tenant_id, _actor(actor), "run.retried", "run", str(run.id), {"error": error})
    if queue is not None:
        _defer_after_commit(session, queue, tenant_id, run.id)
    return run


__all__ = ["cancel_run", "pause_run", "resume_run", "retry_run"]
