"""Accepting new runs in batches: the runs of a tenant accepted while the previous batch commits
are stored together (see :mod:`._batching`), each with its job and its ``run.started`` audit
event, all in one transaction of two round trips.

Used for webhook calls (:func:`._webhooks.accept_hook`), whose checks (tenant, workflow,
signature, input) are done before, in a transaction of their own that writes nothing: the run,
its job and its audit event still commit together, and the call is answered only once they
have. A run the batch could not store is stored alone by :func:`._runs.accept_run` (the ORM
path), so nothing accepted is lost or stored twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from smeflow.audit import Actor
from smeflow.core.context import request_id_var
from smeflow.db import Database, DbScope
from smeflow.engine.runtime._batching import TenantBatcher
from smeflow.engine.runtime._chain import ChainEvent, advance_head_sql, append_events, head_parameters
from smeflow.engine.runtime._jobs import EXECUTE_RUN, QUEUE, search_path_engine_first, search_path_restored
from smeflow.engine.runtime._runs import accept_run, started_details

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue

# The jobs of the runs (the same rows as insert_run_job's), by procrastinate's own function.
_DEFER_JOBS = """
SELECT procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(%(queue)s, %(task)s, 0, 'run:' || r.id::text, 'run:' || r.id::text,
               jsonb_build_object('tenant_id', %(tenant_text)s::text, 'run_id', r.id::text),
               NULL)::procrastinate_job_to_defer_v1
      FROM jsonb_to_recordset(%(runs)s::jsonb) AS r(ord integer, id uuid)
     ORDER BY r.ord
))
"""

_INSERT_RUNS = (
    """
WITH accepted AS (
    INSERT INTO runs (tenant_id, id, workflow_id, version, status, input, cost_micros, created_by,
                      created_at, recoveries)
    SELECT %(tenant)s, r.id, r.workflow_id, r.version, 'queued', r.input, 0, r.created_by,
           r.created_at, 0
      FROM jsonb_to_recordset(%(runs)s::jsonb)
        AS r(ord integer, id uuid, workflow_id uuid, version integer, input jsonb,
             created_by text, created_at timestamptz)
     ORDER BY r.ord
 RETURNING id
), head AS ("""
    + advance_head_sql("(SELECT count(*) FROM accepted)", "accepted")
    + """)
SELECT (SELECT count(*) FROM accepted), (SELECT seq FROM head), (SELECT hash FROM head)
"""
)


@dataclass(frozen=True, slots=True)
class Accepting:
    """A run to store (its workflow, version and input already checked)."""

    run_id: uuid.UUID
    workflow_id: uuid.UUID
    version: int
    input: dict[str, Any]
    who: Actor
    created_by: str
    created_at: datetime
    details: dict[str, Any]
    request_id: str | None = None


async def accept_many(db: Database, tenant_id: uuid.UUID, runs: list[Accepting]) -> list[Any]:
    """Store the tenant's ``runs`` (``queued``), their jobs and their audit events in one
    transaction; their ids, in order (all of them or, raising, none)."""
    rows = orjson.dumps(
        [
            {
                "ord": index,
                "id": str(run.run_id),
                "workflow_id": str(run.workflow_id),
                "version": run.version,
                "input": run.input,
                "created_by": run.created_by,
                "created_at": run.created_at.isoformat(timespec="microseconds"),
            }
            for index, run in enumerate(runs)
        ]
    ).decode()
    params = head_parameters(tenant_id) | {
        "runs": rows,
        "queue": QUEUE,
        "task": EXECUTE_RUN,
        "tenant_text": str(tenant_id),
    }
    async with db.pipeline(DbScope.tenant(tenant_id)) as conn:
        await conn.execute(search_path_engine_first())
        await conn.execute(_DEFER_JOBS, params)
        await conn.execute(search_path_restored())
        row = await (await conn.execute(_INSERT_RUNS, params)).fetchone()  # the audit head last
        assert row is not None  # every run is inserted, or the statement raises
        events = [
            ChainEvent(
                run.who,
                "run.started",
                "run",
                str(run.run_id),
                started_details(run.workflow_id, run.version, run.created_by, None, run.details),
                run.request_id,
            )
            for run in runs
        ]
        await append_events(conn, tenant_id, (row[1], row[2]), events)
    return [run.run_id for run in runs]


class Acceptor(TenantBatcher[Accepting, uuid.UUID]):
    """Stores accepted runs in batches per tenant (see the module docstring). One per queue
    (per process)."""

    def __init__(self, db: Database, queue: RunQueue) -> None:
        async def many(tenant_id: uuid.UUID, runs: list[Accepting]) -> list[Any]:
            return await accept_many(db, tenant_id, runs)

        async def one(tenant_id: uuid.UUID, run: Accepting) -> uuid.UUID:
            token = request_id_var.set(run.request_id)  # its audit event names its own request
            try:
                return await alone(tenant_id, run)
            finally:
                request_id_var.reset(token)

        async def alone(tenant_id: uuid.UUID, run: Accepting) -> uuid.UUID:
            async with db.transaction(DbScope.tenant(tenant_id)) as session:
                stored = await accept_run(
                    session,
                    run.who,
                    tenant_id,
                    run.workflow_id,
                    run.version,
                    run.input,
                    queue=queue,
                    run_id=run.run_id,
                    created_by=run.created_by,
                    details=run.details,
                )
                return stored.id

        super().__init__("run-starts", many, one)


__all__ = ["Accepting", "Acceptor", "accept_many"]
