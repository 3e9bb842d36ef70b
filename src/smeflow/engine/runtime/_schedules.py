"""Schedule triggers at run time: the fire job of a workflow's next fire time starts one run and
defers the next fire job.

Key contracts:

* **One job per (workflow, fire time)**: ``smeflow.fire_schedule`` scheduled at the fire time
  (``schedule_at``) with the queueing lock :func:`fire_lock`, so a fire time never has two jobs
  waiting. The job carries only (tenant, workflow, fire time): it reads the schedules as they
  are when it runs. A job whose fire time is no schedule's ``next_fire_at`` any more (the
  schedule was removed by a publish without it or by archiving, or replaced) does nothing.
* **Exactly once**: the job locks the workflow's schedule rows, claims the trigger key
  ``schedule:<fire time>`` (unique per tenant and workflow) and stores the run, the key and the
  next fire time in one transaction; a second worker, a retried job or a re-created one finds
  the key taken or the fire time moved on, and starts nothing. The run's job is written in that
  transaction, the next fire job deferred after the commit; a lost defer is re-created by the
  sweeper (every schedule due within ``SWEEP_HORIZON`` with no waiting job gets one).
* **Missed fire times** (every worker down over one or more fire times): the late job fires once,
  for the most recent fire time that has passed, not once per missed time; the next fire time is
  the first one after now.
* A scheduled run's input is ``{}``, checked against the input schema like any other: if the
  schema refuses it the fire time is skipped, audited as ``schedule.skipped`` with the reason.
  Runs are created by ``"schedule:<cron>"`` (audit actor ``system:schedule``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import new_id, utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.definitions import latest_fire, next_fire, parse_cron
from smeflow.engine.models import Workflow
from smeflow.engine.runtime._inputs import check_input
from smeflow.engine.runtime._runs import accept_run
from smeflow.engine.schedules import SWEEP_HORIZON, remove_schedules, schedule_zone, tenant_timezone
from smeflow.engine.trigger_models import TriggerKey, WorkflowSchedule
from smeflow.errors import ValidationFailed

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue

logger = logging.getLogger(__name__)

FIRE_SCHEDULE = "smeflow.fire_schedule"
SCHEDULE_ACTOR = Actor.system("schedule")
#: trigger keys older than this are pruned (and a webhook's Idempotency-Key may start a new run)
KEY_LIFETIME = timedelta(hours=24)
PRUNE_BATCH = 1000

_PRUNE = text(
    "DELETE FROM trigger_keys WHERE ctid IN ("
    " SELECT ctid FROM trigger_keys WHERE created_at < :before LIMIT :batch)"
)


def fire_lock(workflow_id: uuid.UUID, fire_at: datetime) -> str:
    """The queueing lock of a workflow's fire job for one fire time."""
    return f"fire:{workflow_id}:{int(fire_at.timestamp())}"


@dataclass(frozen=True, slots=True)
class Fired:
    """What a fire job did: the runs it started, and the next fire times to defer jobs for."""

    runs: list[uuid.UUID]
    next_fire_at: list[datetime]


async def claim_key(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, key: str, run_id: uuid.UUID
) -> bool:
    """Claim a never-used trigger key for ``run_id`` (which must be stored in this transaction);
    ``False`` if the key is taken."""
    claimed = await session.execute(
        insert(TriggerKey)
        .values(tenant_id=tenant_id, workflow_id=workflow_id, key=key, run_id=run_id, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(TriggerKey.run_id)
    )
    return claimed.scalar_one_or_none() is not None


async def _skip(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, at: datetime, exc: ValidationFailed
) -> None:
    logger.warning("schedule of workflow %s skipped %s: %s", workflow_id, at.isoformat(), exc.message)
    await record(
        session,
        tenant_id,
        SCHEDULE_ACTOR,
        "schedule.skipped",
        "workflow",
        str(workflow_id),
        {
            "fire_at": at.isoformat(),
            "reason": exc.message,
            "problems": [{"field": f.field, "message": f.message} for f in exc.fields],
        },
    )


async def fire_schedule(
    db: Database,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    fire_at: datetime,
    *,
    now: datetime | None = None,
    queue: RunQueue | None = None,
) -> Fired:
    """Start the run of the workflow's schedules due at ``fire_at`` (as of ``now``) and move them
    on to their next fire time; with ``queue``, the runs' jobs are written in the transaction."""
    moment = now or utcnow()
    runs: list[uuid.UUID] = []
    nexts: set[datetime] = set()
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        rows = list(
            (
                await session.execute(
                    select(WorkflowSchedule)
                    .where(
                        WorkflowSchedule.tenant_id == tenant_id,
                        WorkflowSchedule.workflow_id == workflow_id,
                        WorkflowSchedule.next_fire_at == fire_at,
                    )
                    .order_by(WorkflowSchedule.trigger_index)
                    .with_for_update()
                )
            ).scalars()
        )
        if not rows:
            return Fired([], [])  # removed, replaced, or already fired: nothing to do
        status = (
            await session.execute(
                select(Workflow.status).where(Workflow.tenant_id == tenant_id, Workflow.id == workflow_id)
            )
        ).scalar_one_or_none()
        if status in (None, "archived"):
            await remove_schedules(session, tenant_id, workflow_id)
            return Fired([], [])
        tenant_zone = await tenant_timezone(session, tenant_id)
        for row in rows:
            schedule, zone = parse_cron(row.cron), schedule_zone(row.timezone, tenant_zone)
            # the most recent fire time that has passed (fire_at itself unless some were missed)
            at = latest_fire(schedule, zone, fire_at, max(moment, fire_at)) or fire_at
            row.next_fire_at = next_fire(schedule, zone, max(moment, at))
            nexts.add(row.next_fire_at)
            try:
                await check_input(session, tenant_id, workflow_id, row.version, {})
            except ValidationFailed as exc:
                await _skip(session, tenant_id, workflow_id, at, exc)
                continue
            run_id = new_id()
            if not await claim_key(session, tenant_id, workflow_id, f"schedule:{at.isoformat()}", run_id):
                continue  # another schedule of the workflow (or another worker) fired this time
            await accept_run(
                session,
                SCHEDULE_ACTOR,
                tenant_id,
                workflow_id,
                row.version,
                {},
                queue=queue,
                run_id=run_id,
                created_by=f"schedule:{row.cron}",
                details={"trigger": "schedule", "fire_at": at.isoformat()},
            )
            runs.append(run_id)
        await session.flush()
    return Fired(runs, sorted(nexts))


async def due_schedules(
    db: Database, now: datetime | None = None
) -> list[tuple[uuid.UUID, uuid.UUID, datetime]]:
    """``(tenant, workflow, next fire time)`` of every schedule due within ``SWEEP_HORIZON`` (or
    overdue), all tenants."""
    horizon = (now or utcnow()) + SWEEP_HORIZON
    async with db.transaction(DbScope.platform()) as session:
        rows = await session.execute(
            select(WorkflowSchedule.tenant_id, WorkflowSchedule.workflow_id, WorkflowSchedule.next_fire_at)
            .where(WorkflowSchedule.next_fire_at <= horizon)
            .distinct()
            .order_by(WorkflowSchedule.next_fire_at)
            .limit(1000)
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def prune_trigger_keys(db: Database, now: datetime | None = None) -> int:
    """Delete (a batch of) trigger keys older than :data:`KEY_LIFETIME`; how many."""
    async with db.transaction(DbScope.platform()) as session:
        result = await session.execute(
            _PRUNE, {"before": (now or utcnow()) - KEY_LIFETIME, "batch": PRUNE_BATCH}
        )
        return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "FIRE_SCHEDULE",
    "KEY_LIFETIME",
    "SCHEDULE_ACTOR",
    "Fired",
    "claim_key",
    "due_schedules",
    "fire_lock",
    "fire_schedule",
    "prune_trigger_keys",
]
