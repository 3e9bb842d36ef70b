"""Registering a workflow's schedule triggers: what :func:`~smeflow.engine.workflows.publish` and
:func:`~smeflow.engine.workflows.archive` do to ``workflow_schedules``.

Key contracts:

* Publishing a version replaces the workflow's schedules with that version's schedule triggers,
  each with its first fire time after the publish (so a version without schedules removes
  them); archiving removes them. Both happen in the caller's transaction. A fire job that comes
  for a schedule no longer registered (or for another fire time) finds nothing and does nothing
  (see :mod:`smeflow.engine.runtime._schedules`).
* A trigger without a ``timezone`` is read in the tenant's time zone as it is when each fire
  time is computed: a change of the tenant's zone applies from the next fire time computed
  after it (the one already computed stays).
* Fire jobs are deferred after the commit through a :class:`FireScheduler` when the caller has
  one (the API's queue); otherwise the queue's sweeper defers them in time (it looks at every
  schedule due within :data:`SWEEP_HORIZON`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from smeflow.core import utcnow
from smeflow.engine.definitions import ScheduleTrigger, WorkflowDefinition, next_fire, parse_cron, time_zone
from smeflow.engine.trigger_models import WorkflowSchedule
from smeflow.tenancy.models import Tenant

#: the sweeper makes sure every schedule due within this long has its fire job
SWEEP_HORIZON = timedelta(minutes=1)


class FireScheduler(Protocol):
    """Defers a workflow's fire job for one fire time, after the current transaction commits."""

    def defer_fire_soon(self, tenant_id: uuid.UUID, workflow_id: uuid.UUID, fire_at: datetime) -> None: ...


async def tenant_timezone(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    """The tenant's IANA time zone (the session must be bound to it)."""
    return (await session.execute(select(Tenant.timezone).where(Tenant.id == tenant_id))).scalar_one()


def schedule_zone(timezone: str | None, tenant_zone: str) -> tzinfo:
    """The zone a schedule is read in: its own, else the tenant's."""
    return time_zone(timezone or tenant_zone)


def fire_after(cron: str, zone: tzinfo, after: datetime) -> datetime:
    """The schedule's first fire time (UTC) after ``after``."""
    return next_fire(parse_cron(cron), zone, after)


async def register_schedules(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    version: int,
    definition: WorkflowDefinition,
    *,
    now: datetime | None = None,
) -> list[datetime]:
    """Make the workflow's schedules those of ``definition`` (version ``version``), each firing
    first after ``now``; the distinct first fire times, in order (empty: no schedule)."""
    await remove_schedules(session, tenant_id, workflow_id)
    schedules = [
        (index, trigger)
        for index, trigger in enumerate(definition.triggers)
        if isinstance(trigger, ScheduleTrigger)
    ]
    if not schedules:
        return []
    moment = now or utcnow()
    tenant_zone = await tenant_timezone(session, tenant_id)
    fires: set[datetime] = set()
    for index, trigger in schedules:
        first = fire_after(trigger.cron, schedule_zone(trigger.timezone, tenant_zone), moment)
        fires.add(first)
        session.add(
            WorkflowSchedule(
                tenant_id=tenant_id,
                workflow_id=workflow_id,
                trigger_index=index,
                version=version,
                cron=trigger.cron,
                timezone=trigger.timezone,
                next_fire_at=first,
                created_at=moment,
            )
        )
    await session.flush()
    return sorted(fires)


async def remove_schedules(session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> None:
    """The workflow has no schedule any more (its pending fire jobs will do nothing)."""
    await session.execute(
        delete(WorkflowSchedule).where(
            WorkflowSchedule.tenant_id == tenant_id, WorkflowSchedule.workflow_id == workflow_id
        )
    )


def defer_fires_after_commit(
    session: AsyncSession,
    scheduler: FireScheduler,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    fires: Iterable[datetime],
) -> None:
    """Once the session's transaction commits, defer the fire job of each fire time."""
    wanted = list(fires)
    if not wanted:
        return

    def after_commit(_: Session) -> None:
        for fire_at in wanted:
            scheduler.defer_fire_soon(tenant_id, workflow_id, fire_at)

    event.listen(session.sync_session, "after_commit", after_commit, once=True)


__all__ = [
    "SWEEP_HORIZON",
    "FireScheduler",
    "defer_fires_after_commit",
    "fire_after",
    "register_schedules",
    "remove_schedules",
    "schedule_zone",
    "tenant_timezone",
]
