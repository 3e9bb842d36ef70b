"""Recording the end of an execution: a run that ended (finished: succeeded or failed), stopped at
a step boundary (cancelled or paused as asked) or waits.

A run that ended is recorded in one transaction of two round trips (:func:`finish`): one
statement marks it ended (unless it was cancelled meanwhile), writes its collected step events,
tells :data:`RUN_CHANNEL` (at commit) and advances the tenant's audit head; then its audit event
(``run.succeeded`` / ``run.failed``) and ``COMMIT``. A sub-workflow run (whose parent is queued
again in the same transaction, its row locked before the audit head) and a run cancelled
meanwhile take the ORM path (:func:`finish_orm`) instead: the same outcome, more statements.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import func, select, update

from smeflow.audit import Actor, record
from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.engine.runtime._approvals import mark_waiting
from smeflow.engine.runtime._chain import ADVANCE_HEAD_SQL, append_event, head_parameters
from smeflow.engine.runtime._outcomes import Executed
from smeflow.engine.runtime._records import EVENT_COLUMNS, insert_events
from smeflow.engine.runtime._stops import apply_stop_request
from smeflow.engine.runtime._subworkflows import children_of, wake_parent
from smeflow.engine.runtime._waits import next_wake

#: PostgreSQL channel told ``"<tenant> <run> <status>"`` when a run finishes (at commit)
RUN_CHANNEL = "smeflow_runs"

_FINISH = (
    """
WITH ended AS (
    UPDATE runs
       SET status = %(status)s, output = %(output)s::jsonb, error = %(error)s, finished_at = %(now)s,
           stop_request = NULL
     WHERE tenant_id = %(tenant)s AND id = %(run)s AND parent_run_id IS NULL
       AND status NOT IN ('succeeded', 'failed', 'cancelled')
 RETURNING pg_notify(%(channel)s, %(note)s)
), events AS (
    INSERT INTO run_events (tenant_id, run_id, seq, node_id, kind, status, input, output, error,
                            duration_ms, at)
    SELECT %(tenant)s, %(run)s, e.seq, e.node_id, e.kind, e.status, e.input, e.output, e.error,
           e.duration_ms, e.at
      FROM jsonb_to_recordset(%(events)s::jsonb) AS e("""
    + EVENT_COLUMNS
    + """)
     WHERE EXISTS (SELECT 1 FROM ended)
), head AS ("""
    + ADVANCE_HEAD_SQL.format(source="ended")
    + """)
SELECT seq, hash FROM head
"""
)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def finish(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    status: str,
    output: dict[str, Any] | None,
    error: str | None,
    events: list[dict[str, Any]] | None = None,
) -> uuid.UUID | None:
    """Record the run's end (audited) with its collected step events, tell :data:`RUN_CHANNEL`;
    a sub-workflow run's parent is queued again in the same transaction (its id is returned,
    for the queue to defer its job). A run cancelled meanwhile stays cancelled."""
    params = head_parameters(tenant_id) | {
        "run": run_id,
        "status": status,
        "output": _json(output),
        "error": error,
        "now": utcnow(),
        "channel": RUN_CHANNEL,
        "note": f"{tenant_id} {run_id} {status}",
        "events": _json(events or []),
    }
    async with db.pipeline(DbScope.tenant(tenant_id)) as conn:
        head = await (await conn.execute(_FINISH, params)).fetchone()
        if head is not None:
            await append_event(
                conn,
                tenant_id,
                head,
                Actor("workflow_run", str(run_id)),
                f"run.{status}",
                "run",
                str(run_id),
                {"error": error} if error else {},
            )
    if head is not None:
        return None
    return await finish_orm(db, tenant_id, run_id, status, output, error, events)


async def finish_orm(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    status: str,
    output: dict[str, Any] | None,
    error: str | None,
    events: list[dict[str, Any]] | None = None,
) -> uuid.UUID | None:
    """:func:`finish` through the ORM: for a sub-workflow run (its parent queued again, its id
    returned) and a run cancelled meanwhile (it stays cancelled; its events are written)."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        await insert_events(session, tenant_id, run_id, events or [])
        ended = (
            await session.execute(
                update(Run)
                .where(
                    Run.tenant_id == tenant_id,
                    Run.id == run_id,
                    Run.status.not_in(tuple(FINISHED_STATUSES)),
                )
                .values(status=status, output=output, error=error, finished_at=utcnow(), stop_request=None)
                .returning(Run.parent_run_id, func.pg_notify(RUN_CHANNEL, f"{tenant_id} {run_id} {status}"))
            )
        ).one_or_none()
        if ended is None:  # cancelled meanwhile: it stays so
            return None
        parent = None
        if ended[0] is not None:  # locked before the audit chain's head
            run = (
                await session.execute(select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id))
            ).scalar_one()
            parent = await wake_parent(session, run)
        await record(
            session,
            tenant_id,
            Actor("workflow_run", str(run_id)),
            f"run.{status}",
            "run",
            str(run_id),
            {"error": error} if error else {},
        )
        return parent


async def stopped(
    db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, events: list[dict[str, Any]] | None
) -> Executed:
    """The run stopped at a step boundary: write its collected events (its checkpoint was saved
    there), apply its stop request."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        await insert_events(session, tenant_id, run_id, events or [])
        run = (
            await session.execute(
                select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
            )
        ).scalar_one()
        if run.stop_request is None:  # never withdrawn while running; were one, it goes on later
            run.status = "queued"
        status = await apply_stop_request(session, run)
    return Executed(status, prune=status == "cancelled")


async def waiting(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    interrupts: Any,
    events: list[dict[str, Any]] | None = None,
) -> Executed:
    """The run waits (for a person, a time, an event, a child run): write its collected events,
    mark it waiting (or paused or cancelled, if asked meanwhile)."""
    if events:
        async with db.transaction(DbScope.tenant(tenant_id)) as session:
            await insert_events(session, tenant_id, run_id, events)
    status = await mark_waiting(db, tenant_id, run_id)
    if status == "waiting":
        return Executed(status, next_wake(interrupts), children_of(interrupts))
    return Executed(status, prune=status == "cancelled")


__all__ = ["RUN_CHANNEL", "finish", "finish_orm", "stopped", "waiting"]
