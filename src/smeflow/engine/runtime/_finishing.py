"""Recording the end of an execution: a run that ended (finished: succeeded or failed), stopped at
a step boundary (cancelled or paused as asked) or waits.

Runs that ended are recorded by :class:`Finisher`, in one transaction of two round trips for all
the runs of a tenant that end while the previous such transaction commits (group commit, see
:mod:`._batching`: the tenant's audit head, which every run's start and end must lock, is locked
once per batch, not once per run). One statement marks them ended (each unless it was cancelled
meanwhile), writes their collected step events, tells :data:`RUN_CHANNEL` (at commit) and
advances the tenant's audit head by their number; then their audit events (``run.succeeded`` /
``run.failed``) and ``COMMIT``. Each run's end and its audit event commit together. A
sub-workflow run (whose parent is queued again in the same transaction, its row locked before
the audit head) and a run cancelled meanwhile take the ORM path (:func:`finish_orm`) instead:
the same outcome, more statements; so does a run whose batch failed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, select, update

from smeflow.audit import Actor, record
from smeflow.core import utcnow
from smeflow.core.context import request_id_var
from smeflow.db import Database, DbScope
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.engine.runtime._approvals import mark_waiting
from smeflow.engine.runtime._batching import ALONE, TenantBatcher
from smeflow.engine.runtime._chain import ChainEvent, advance_head_sql, append_events, head_parameters
from smeflow.engine.runtime._claiming import ANY_HELD
from smeflow.engine.runtime._outcomes import Ended, Executed
from smeflow.engine.runtime._records import EVENT_COLUMNS, insert_events
from smeflow.engine.runtime._stops import apply_stop_request
from smeflow.engine.runtime._subworkflows import children_of, wake_parent
from smeflow.engine.runtime._waits import next_wake

logger = logging.getLogger(__name__)

#: PostgreSQL channel told ``"<tenant> <run> <status>"`` when a run finishes (at commit)
RUN_CHANNEL = "smeflow_runs"

_FINISH = (
    """
WITH ending AS (
    SELECT * FROM jsonb_to_recordset(%(runs)s::jsonb)
        AS e(ord integer, run uuid, status text, output jsonb, error text, note text)
), ended AS (
    UPDATE runs
       SET status = e.status, output = e.output, error = e.error, finished_at = %(now)s,
           stop_request = NULL
      FROM ending e
     WHERE runs.tenant_id = %(tenant)s AND runs.id = e.run AND runs.parent_run_id IS NULL
       AND runs.status NOT IN ('succeeded', 'failed', 'cancelled')
 RETURNING e.ord, pg_notify(%(channel)s, e.note)
), events AS (
    INSERT INTO run_events (tenant_id, run_id, seq, node_id, kind, status, input, output, error,
                            duration_ms, at)
    SELECT %(tenant)s, v.run, v.seq, v.node_id, v.kind, v.status, v.input, v.output, v.error,
           v.duration_ms, v.at
      FROM jsonb_to_recordset(%(events)s::jsonb) AS v(ord integer, run uuid, """
    + EVENT_COLUMNS
    + """)
     WHERE v.ord IN (SELECT ord FROM ended)
), head AS ("""
    + advance_head_sql("(SELECT count(*) FROM ended)", "ended")
    + """)
SELECT (SELECT array_agg(ord ORDER BY ord) FROM ended), (SELECT seq FROM head), (SELECT hash FROM head)
"""
)


@dataclass(frozen=True, slots=True)
class Ending:
    """How one run ended, to record: its status, output, error and collected step events."""

    run_id: uuid.UUID
    status: str
    output: dict[str, Any] | None
    error: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    request_id: str | None = None


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def finish_many(
    db: Database, tenant_id: uuid.UUID, endings: list[Ending]
) -> tuple[set[uuid.UUID], bool]:
    """Record the ends of the tenant's ``endings`` in one transaction (see the module docstring);
    the runs recorded, and whether the tenant had runs admission held back once they had
    committed (read in a second transaction sent in the same round trip as the first's
    ``COMMIT``). The others (cancelled meanwhile, sub-workflow runs) are left untouched, for
    :func:`finish_orm`."""
    runs = [
        {
            "ord": index,
            "run": str(ending.run_id),
            "status": ending.status,
            "output": ending.output,
            "error": ending.error,
            "note": f"{tenant_id} {ending.run_id} {ending.status}",
        }
        for index, ending in enumerate(endings)
    ]
    events = [
        {"ord": index, "run": str(ending.run_id)} | event
        for index, ending in enumerate(endings)
        for event in ending.events
    ]
    params = head_parameters(tenant_id) | {
        "runs": _json(runs),
        "events": _json(events),
        "now": utcnow(),
        "channel": RUN_CHANNEL,
    }
    scope = DbScope.tenant(tenant_id)
    async with db.pipelined() as pipelined:
        async with pipelined.transaction(scope) as conn:
            row = await (await conn.execute(_FINISH, params)).fetchone()
            assert row is not None
            ended: list[int] = row[0] or []
            if ended:
                audit = [
                    ChainEvent(
                        Actor("workflow_run", str(endings[index].run_id)),
                        f"run.{endings[index].status}",
                        "run",
                        str(endings[index].run_id),
                        {"error": endings[index].error} if endings[index].error else {},
                        endings[index].request_id,
                    )
                    for index in ended
                ]
                await append_events(conn, tenant_id, (row[1], row[2]), audit)
        async with pipelined.transaction(scope) as conn:  # after the commit above: what it left
            held = await conn.execute(ANY_HELD, {"tenant": tenant_id})
    found = await held.fetchone()
    return {endings[index].run_id for index in ended}, bool(found and found[0])


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
    ending = Ending(run_id, status, output, error, events or [], request_id_var.get())
    if run_id in (await finish_many(db, tenant_id, [ending]))[0]:
        return None
    return await finish_orm(db, tenant_id, run_id, status, output, error, events)


class Finisher(TenantBatcher[Ending, Ended]):
    """Records the ends of runs, batching the runs of a tenant that end at about the same time
    (see the module docstring and :mod:`._batching`): :meth:`finish` returns once the run's end
    has committed. One per runtime (per process)."""

    def __init__(self, db: Database) -> None:
        async def many(tenant_id: uuid.UUID, endings: list[Ending]) -> list[Any]:
            recorded, held = await finish_many(db, tenant_id, endings)
            return [Ended(None, held) if ending.run_id in recorded else ALONE for ending in endings]

        async def one(tenant_id: uuid.UUID, ending: Ending) -> Ended:
            token = request_id_var.set(ending.request_id)  # its audit event names its own request
            try:
                return Ended(
                    await finish_orm(
                        db,
                        tenant_id,
                        ending.run_id,
                        ending.status,
                        ending.output,
                        ending.error,
                        ending.events,
                    )
                )
            finally:
                request_id_var.reset(token)

        super().__init__("run-ends", many, one)

    async def finish(
        self,
        tenant_id: uuid.UUID,
        run_id: uuid.UUID,
        status: str,
        output: dict[str, Any] | None,
        error: str | None,
        events: list[dict[str, Any]] | None = None,
    ) -> Ended:
        """:func:`finish`, in the tenant's next batch."""
        ending = Ending(run_id, status, output, error, events or [], request_id_var.get())
        return await self.submit(tenant_id, ending)


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


__all__ = [
    "RUN_CHANNEL",
    "Ending",
    "Finisher",
    "finish",
    "finish_many",
    "finish_orm",
    "stopped",
    "waiting",
]
