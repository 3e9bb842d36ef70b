"""The runs service: start a run (in the caller's transaction), read runs and their events.

Key contracts: :func:`start_run` persists the run as ``queued`` and audits ``run.started`` in the
caller's transaction, so an accepted run is never lost; with a queue its job is written in that
transaction too (:mod:`._jobs`: both commit or neither; the periodic sweeper still defers any
queued run whose job went missing).
The input is checked against the pinned version's ``input_schema`` first (see ``_inputs``):
a mismatch is :class:`ValidationFailed` listing every problem (``input.<path>``), nothing written.
A run may carry an ``order_key``: runs of the tenant with the same key execute one at a time, in
the order they were accepted (see :mod:`._admission`). The session must be bound to
``tenant_id``; another tenant's run is :class:`NotFound`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from smeflow.audit import Actor, record
from smeflow.core import new_id, utcnow
from smeflow.engine.run_models import Run, RunEvent
from smeflow.engine.runtime._inputs import check_input
from smeflow.engine.runtime._jobs import insert_run_job
from smeflow.engine.workflows import get_workflow
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from smeflow.identity import Principal

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue

_NO_RUN = "No such run"
MAX_ORDER_KEY_LENGTH = 200


def _actor(actor: Principal | Actor) -> Actor:
    return actor.actor if isinstance(actor, Principal) else actor


async def start_run(
    session: AsyncSession,
    actor: Principal | Actor,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    input: dict[str, Any],
    version: int | None = None,
    *,
    order_key: str | None = None,
    queue: RunQueue | None = None,
    created_by: str | None = None,
    parent: tuple[uuid.UUID, str] | None = None,
) -> Run:
    """Accept a run of ``workflow_id`` (its newest published version unless ``version`` is given)
    with ``input``: stored as ``queued`` and audited (``run.started``) in the caller's transaction.
    With ``queue``, its job is written in that transaction too. ``created_by`` says what
    started it when that is not the actor itself (``event:booking.created``, ``run:<id>``);
    ``parent`` is the run and step of which it is a sub-workflow run. With ``order_key`` (such as
    ``conversation:<id>``) it executes after the tenant's runs of that key accepted before it have
    finished or are waiting.

    :class:`NotFound` for an unknown workflow or version; :class:`Conflict` if the workflow has
    never been published; :class:`ValidationFailed` if the input is not an object (field
    ``input``), does not match the version's input schema (fields ``input.<path>``), or the
    ``order_key`` is empty or longer than 200 characters.
    """
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound("No such workflow")
    if not isinstance(input, dict):
        raise ValidationFailed(
            "The run's input must be a JSON object",
            fields=[FieldProblem("input", "must be an object", "type")],
        )
    if order_key is not None and not (
        isinstance(order_key, str) and 0 < len(order_key) <= MAX_ORDER_KEY_LENGTH
    ):
        raise ValidationFailed(
            "The run's order key must be a text of 1 to 200 characters",
            fields=[FieldProblem("order_key", "must be 1 to 200 characters long", "length")],
        )
    workflow = await get_workflow(session, tenant_id, workflow_id)
    if version is None:
        if workflow.latest_version is None:
            raise Conflict("The workflow has no published version to run yet")
        version = workflow.latest_version
    await check_input(session, tenant_id, workflow_id, version, input)  # NotFound for no such version
    return await accept_run(
        session,
        _actor(actor),
        tenant_id,
        workflow_id,
        version,
        input,
        queue=queue,
        created_by=created_by,
        parent=parent,
        order_key=order_key,
    )


async def accept_run(
    session: AsyncSession,
    who: Actor,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    version: int,
    input: dict[str, Any],
    *,
    queue: RunQueue | None = None,
    run_id: uuid.UUID | None = None,
    created_by: str | None = None,
    details: dict[str, Any] | None = None,
    parent: tuple[uuid.UUID, str] | None = None,
    order_key: str | None = None,
) -> Run:
    """Store a run whose workflow, version and input the caller has already checked (a trigger):
    ``queued``, audited ``run.started`` (with ``details`` added), with ``queue`` its job written
    in the same transaction. ``created_by`` defaults to the actor (``"<type>:<id>"``); ``parent`` is the
    run and step of which it is a sub-workflow run."""
    run = Run(
        tenant_id=tenant_id,
        id=run_id or new_id(),
        workflow_id=workflow_id,
        version=version,
        status="queued",
        input=input,
        output=None,
        error=None,
        cost_micros=0,
        created_by=created_by or f"{who.type}:{who.id}",
        created_at=utcnow(),
        parent_run_id=parent[0] if parent else None,
        parent_node_id=parent[1] if parent else None,
        order_key=order_key,
    )
    session.add(run)
    await session.flush()
    if queue is not None:  # its job commits with it (and the workers hear of it then)
        await insert_run_job(session, tenant_id, run.id)
    # The audit event last: from here the tenant's audit head is locked until the commit.
    await record(
        session,
        tenant_id,
        who,
        "run.started",
        "run",
        str(run.id),
        started_details(workflow_id, version, created_by, order_key, details),
    )
    return run


def started_details(
    workflow_id: uuid.UUID,
    version: int,
    created_by: str | None,
    order_key: str | None,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    """The data of a run's ``run.started`` audit event."""
    return (
        {"workflow_id": str(workflow_id), "version": version}
        | ({"created_by": created_by} if created_by else {})
        | ({"order_key": order_key} if order_key is not None else {})
        | (details or {})
    )


def _defer_after_commit(
    session: AsyncSession, queue: RunQueue, tenant_id: uuid.UUID, run_id: uuid.UUID
) -> None:
    def after_commit(_: Session) -> None:
        queue.defer_soon(tenant_id, run_id)

    event.listen(session.sync_session, "after_commit", after_commit, once=True)


async def get_run(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Run:
    """One of the tenant's runs; :class:`NotFound` otherwise."""
    run = (
        await session.execute(select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id))
    ).scalar_one_or_none()
    if run is None:
        raise NotFound(_NO_RUN)
    return run


async def list_runs(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID | None = None,
    limit: int = 50,
    *,
    status: str | None = None,
    before_id: uuid.UUID | None = None,
) -> list[Run]:
    """The tenant's newest runs first (of one workflow, in one status, if given); pass the last
    run id seen as ``before_id`` for the next page (run ids are UUIDv7, so they sort by time)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = select(Run).where(Run.tenant_id == tenant_id)
    if workflow_id is not None:
        query = query.where(Run.workflow_id == workflow_id)
    if status is not None:
        query = query.where(Run.status == status)
    if before_id is not None:
        query = query.where(Run.id < before_id)
    query = query.order_by(Run.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def list_events(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> list[RunEvent]:
    """A run's step events, in order; :class:`NotFound` for an unknown run."""
    await get_run(session, tenant_id, run_id)
    query = (
        select(RunEvent)
        .where(RunEvent.tenant_id == tenant_id, RunEvent.run_id == run_id)
        .order_by(RunEvent.seq)
    )
    return list((await session.execute(query)).scalars())
