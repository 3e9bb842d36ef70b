"""Internal events: something happened in a tenant (``booking.created``, ``payment.succeeded``) and
workflows react. :func:`emit_event` is called in the caller's transaction (the bookings service
emits ``booking.created`` in the transaction that creates the booking; ``POST /api/v1/events`` and
``smeflow events emit`` emit one by hand).

Key contracts:

* In the caller's transaction, and so all or nothing with the change that caused it: the event is
  stored (``events``); a run is started (:func:`~._runs.start_run`, ``created_by``
  ``event:<name>``, the payload as its input) of every active workflow of the tenant whose newest
  published version has an ``event`` trigger of that name (a workflow whose input schema the
  payload does not match is skipped, and said so: the event happened all the same); the event is
  delivered to every open event wait of that name of the tenant's unfinished runs (one
  ``event_deliveries`` row each, see :mod:`._event_waits`) and those runs go back to
  ``queued``; ``event.emitted`` is audited. The jobs are deferred once that transaction commits
  (the sweeper re-defers any queued run whose job went missing).
* An event with a ``key`` is accepted once per tenant: emitting the same key again changes nothing
  and returns the first event (``duplicate``).
* Tenants stay apart by construction: everything is read and written under the session's tenant
  binding (RLS), so another tenant's workflows and waiting runs are out of reach, and an event for
  another tenant than the session's is refused by the database.
* Which runs an event starts or resumes is decided when it is emitted: a wait opened later does not
  see it, nor does a workflow published later.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import new_id, utcnow
from smeflow.engine.definitions import EVENT_PATTERN
from smeflow.engine.event_models import Event, EventDelivery, EventWait
from smeflow.engine.models import Workflow, WorkflowVersion
from smeflow.engine.run_models import Run
from smeflow.engine.runtime._runs import _defer_after_commit, start_run
from smeflow.engine.schemas import MAX_EVENT_KEY_LENGTH, MAX_EVENT_NAME_LENGTH
from smeflow.engine.workflows import _storable_problem
from smeflow.errors import FieldProblem, NotFound, ValidationFailed
from smeflow.identity import Principal

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue

_NAME = re.compile(EVENT_PATTERN)
_UNFINISHED = ("queued", "running", "waiting")


@dataclass(frozen=True, slots=True)
class Emitted:
    """An emitted event, and what it did: the runs it started and the waiting runs it queued.
    ``duplicate``: its key had been emitted before, so nothing was done (``event`` is the first)."""

    event: Event
    duplicate: bool = False
    started: list[uuid.UUID] = field(default_factory=list)
    resumed: list[uuid.UUID] = field(default_factory=list)
    #: workflows it triggers whose input schema its payload does not match: workflow → why
    skipped: dict[uuid.UUID, str] = field(default_factory=dict)


def _actor(actor: Principal | Actor) -> Actor:
    return actor.actor if isinstance(actor, Principal) else actor


def _check(name: Any, payload: Any, key: Any) -> None:
    problems: list[FieldProblem] = []
    if not isinstance(name, str) or len(name) > MAX_EVENT_NAME_LENGTH or not _NAME.fullmatch(name):
        problems.append(
            FieldProblem(
                "name",
                f"an event name is dotted words of letters, digits and '_' such as booking.created "
                f"(at most {MAX_EVENT_NAME_LENGTH} characters)",
                "invalid",
            )
        )
    if not isinstance(payload, dict):
        problems.append(FieldProblem("payload", "the payload must be a JSON object", "type"))
    elif (problem := _storable_problem(payload, "payload", 0)) is not None:
        problems.append(FieldProblem("payload", problem, "invalid"))
    if key is not None and (
        not isinstance(key, str)
        or not 1 <= len(key) <= MAX_EVENT_KEY_LENGTH
        or _storable_problem(key, "key", 0) is not None
    ):
        problems.append(
            FieldProblem("key", f"a key is 1 to {MAX_EVENT_KEY_LENGTH} characters of text", "invalid")
        )
    if problems:
        raise ValidationFailed("The event is not valid", fields=problems)


async def _store(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, payload: dict[str, Any], key: str | None, by: str
) -> tuple[Event, bool]:
    """The event, inserted; or, for a key emitted before, the first event with it (``True``)."""
    event_id = new_id()
    inserted = (
        await session.execute(
            insert(Event)
            .values(
                tenant_id=tenant_id,
                id=event_id,
                name=name,
                payload=payload,
                key=key,
                created_by=by,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=[Event.tenant_id, Event.key])
            .returning(Event.id)
        )
    ).scalar_one_or_none()
    query = select(Event).where(Event.tenant_id == tenant_id)
    if inserted is None:
        return (await session.execute(query.where(Event.key == key))).scalar_one(), True
    return (await session.execute(query.where(Event.id == event_id))).scalar_one(), False


async def _deliver(session: AsyncSession, tenant_id: uuid.UUID, event: Event) -> list[uuid.UUID]:
    """Deliver the event to every open wait for it of an unfinished run; those runs are queued.
    The waits are locked, so a step closing its wait meanwhile never misses a delivery it must
    ignore."""
    waits = (
        await session.execute(
            select(EventWait.run_id, EventWait.node_id)
            .join(Run, and_(Run.tenant_id == EventWait.tenant_id, Run.id == EventWait.run_id))
            .where(
                EventWait.tenant_id == tenant_id,
                EventWait.event_name == event.name,
                EventWait.status == "open",
                Run.status.in_(_UNFINISHED),
            )
            .order_by(EventWait.run_id, EventWait.node_id)
            .with_for_update(of=EventWait)
        )
    ).all()
    if not waits:
        return []
    now = utcnow()
    await session.execute(
        insert(EventDelivery)
        .values(
            [
                {
                    "tenant_id": tenant_id,
                    "run_id": run_id,
                    "node_id": node_id,
                    "event_id": event.id,
                    "status": "pending",
                    "delivered_at": now,
                }
                for run_id, node_id in waits
            ]
        )
        .on_conflict_do_nothing()
    )
    runs = sorted({run_id for run_id, _ in waits})
    await session.execute(  # in one order, so two events queueing the same runs never deadlock
        select(Run.id).where(Run.tenant_id == tenant_id, Run.id.in_(runs)).order_by(Run.id).with_for_update()
    )
    await session.execute(
        update(Run)
        .where(Run.tenant_id == tenant_id, Run.id.in_(runs), Run.status.in_(("running", "waiting")))
        .values(status="queued")
    )
    return runs


async def _triggered(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> list[tuple[uuid.UUID, int]]:
    """``(workflow, version)`` of every active workflow whose newest published version has an
    ``event`` trigger named ``name``, by workflow name."""
    rows = await session.execute(
        select(Workflow.id, WorkflowVersion.version)
        .join(
            WorkflowVersion,
            and_(
                WorkflowVersion.tenant_id == Workflow.tenant_id,
                WorkflowVersion.workflow_id == Workflow.id,
                WorkflowVersion.version == Workflow.latest_version,
            ),
        )
        .where(
            Workflow.tenant_id == tenant_id,
            Workflow.status == "active",
            WorkflowVersion.definition["triggers"].contains([{"kind": "event", "event": name}]),
        )
        .order_by(Workflow.name)
    )
    return [(row[0], row[1]) for row in rows]


async def emit_event(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    name: str,
    payload: dict[str, Any],
    *,
    actor: Principal | Actor,
    queue: RunQueue | None = None,
    key: str | None = None,
) -> Emitted:
    """Emit ``name`` with ``payload`` in the tenant, in the caller's transaction: store it, start
    the runs its event triggers call for, deliver it to the runs waiting for it, audit
    ``event.emitted``. With ``queue``, the jobs are deferred once that transaction commits.

    :class:`ValidationFailed` (fields ``name``, ``payload``, ``key``) for a bad name, a payload
    that is not a JSON object PostgreSQL can store, or a bad key; :class:`NotFound` for a
    principal of another tenant. A key emitted before: nothing is done, the first event is
    returned with ``duplicate``.
    """
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound("No such tenant")
    _check(name, payload, key)
    who = _actor(actor)
    event, duplicate = await _store(session, tenant_id, name, payload, key, f"{who.type}:{who.id}")
    if duplicate:
        return Emitted(event, duplicate=True)
    resumed = await _deliver(session, tenant_id, event)
    started: list[uuid.UUID] = []
    skipped: dict[uuid.UUID, str] = {}
    for workflow_id, version in await _triggered(session, tenant_id, name):
        try:
            run = await start_run(
                session,
                actor,
                tenant_id,
                workflow_id,
                payload,
                version,
                queue=queue,
                created_by=f"event:{name}",
            )
        except ValidationFailed as exc:  # checked before anything is written: nothing to undo
            skipped[workflow_id] = "; ".join(f"{p.field}: {p.message}" for p in exc.fields) or exc.message
            continue
        started.append(run.id)
    await record(
        session,
        tenant_id,
        who,
        "event.emitted",
        "event",
        str(event.id),
        {
            "name": name,
            "key": key,
            "runs_started": [str(run_id) for run_id in started],
            "runs_resumed": [str(run_id) for run_id in resumed],
        }
        | ({"runs_skipped": {str(wf): reason for wf, reason in skipped.items()}} if skipped else {}),
    )
    if queue is not None:
        for run_id in resumed:
            _defer_after_commit(session, queue, tenant_id, run_id)
    return Emitted(event, started=started, resumed=resumed, skipped=skipped)


__all__ = ["Emitted", "emit_event"]
