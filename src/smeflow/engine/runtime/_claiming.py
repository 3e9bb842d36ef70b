"""Claiming a run for execution: one transaction, one round trip.

The worker about to execute a run sends, in one pipeline: ``BEGIN``, the tenant binding, the
tenant's admission lock (:data:`._admission.LOCK_TENANT`, taken *before* the statement so its
snapshot sees every claim that committed before), one statement that locks the run's row,
decides (:data:`._admission.VERDICT`) and records the outcome, and ``COMMIT``:

* a finished or paused run, or one with a stop request: nothing here (a stop request is applied
  by :func:`stop_at_claim`, through the ORM, with its audit event: rare);
* a ``running`` run (re-executed after a crash): claimed again, no admission;
* a ``queued`` or woken run: claimed (``running``, ``started_at`` set on its first execution)
  unless its tenant has ``concurrent_runs`` of its tier running already or an earlier run of its
  order key is unfinished: then it stays ``queued`` and is marked held (``held_at``).

A claimed run comes with its version's definition (JSON text: parsed only when its graph is not
cached) and the number of its next step event. The claim's commit does not wait for its WAL flush
(``synchronous_commit`` off for that transaction alone): a claim lost in a database crash is a
worker that died before claiming, and every durable write of the execution after it flushes it
first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import select

from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.engine.runtime._admission import ADMISSION_LOCK, LOCK_TENANT, VERDICT
from smeflow.engine.runtime._outcomes import Claimed, Executed
from smeflow.engine.runtime._records import NO_FLUSH_WAIT
from smeflow.engine.runtime._stops import apply_stop_request

logger = logging.getLogger(__name__)

# One statement: lock the run, decide, record the decision, return what the execution needs.
# ``quotas``: the tiers' ``concurrent_runs`` (NULL: no limit); ``fallback``: an unknown tier's.
_CLAIM = (
    """
WITH target AS MATERIALIZED (
    SELECT status, stop_request, started_at, order_key, created_at, workflow_id, version, input
      FROM runs WHERE tenant_id = %(tenant)s AND id = %(run)s
       FOR UPDATE
), counts AS MATERIALIZED (
    SELECT (SELECT count(*) FROM runs WHERE tenant_id = %(tenant)s AND status = 'running') AS running,
           coalesce((SELECT tier FROM tenants WHERE id = %(tenant)s), 'free') AS tier
), verdict AS MATERIALIZED (
    SELECT t.*, c.running, """
    + VERDICT
    + """ AS verdict
      FROM target t CROSS JOIN counts c
), moved AS (
    UPDATE runs r
       SET status = CASE WHEN v.verdict = 'go' THEN 'running' ELSE 'queued' END,
           held_at = CASE WHEN v.verdict = 'go' THEN NULL ELSE %(now)s END,
           started_at = CASE WHEN v.verdict = 'go' THEN coalesce(r.started_at, %(now)s)
                             ELSE r.started_at END
      FROM verdict v
     WHERE r.tenant_id = %(tenant)s AND r.id = %(run)s AND v.verdict <> 'other'
 RETURNING 1
)
SELECT v.verdict, v.started_at IS NULL, v.workflow_id, v.version, v.input, v.running, v.order_key,
       (SELECT count(*) FROM moved),
       CASE WHEN v.verdict = 'go' THEN (
            SELECT definition::text FROM workflow_versions w
             WHERE w.tenant_id = %(tenant)s AND w.workflow_id = v.workflow_id AND w.version = v.version
       ) END,
       CASE WHEN v.verdict = 'go' AND v.started_at IS NOT NULL THEN (
            SELECT coalesce(max(seq), 0) FROM run_events e
             WHERE e.tenant_id = %(tenant)s AND e.run_id = %(run)s
       ) END
  FROM verdict v
"""
)


def quota_parameters(quotas: Mapping[str, int] | None, fallback: int | None) -> tuple[str | None, int | None]:
    """The claim's ``quotas`` (JSON: tier → ``concurrent_runs``; ``None``: no limit) and
    ``fallback`` (an unknown tier's) parameters."""
    return (None if quotas is None else orjson.dumps(dict(quotas)).decode()), fallback


async def claim(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    quotas: tuple[str | None, int | None],
) -> Claimed | Executed:
    """Mark the run running and return what executing it needs (see the module docstring); or how
    the claim ended (nothing to do, not admitted yet, stopped as it was asked)."""
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "tenant_text": str(tenant_id),
        "space": ADMISSION_LOCK,
        "run": run_id,
        "quotas": quotas[0],
        "fallback": quotas[1],
        "now": utcnow(),
    }
    async with db.pipeline(DbScope.tenant(tenant_id)) as conn:
        # Not waiting for the claim's flush loses nothing: if the database crashed before it, the
        # run is as it was before the claim (a worker that died before claiming), and anything
        # durable the execution writes after it is later in the WAL, so its flush comes first.
        await conn.execute(NO_FLUSH_WAIT)
        await conn.execute(LOCK_TENANT, params)
        cursor = await conn.execute(_CLAIM, params)
    row = await cursor.fetchone()
    if row is None:
        logger.warning("run %s of tenant %s does not exist; job dropped", run_id, tenant_id)
        return Executed(None)
    verdict, fresh, workflow_id, version, input, running, order_key, _, definition, last_seq = row
    if verdict == "other":
        return await stop_at_claim(db, tenant_id, run_id)
    if verdict != "go":
        reason = (
            f"the tenant has {running} runs running, the most its plan allows at once"
            if verdict == "quota"
            else f"a run with the order key {order_key!r} is running, or queued before it"
        )
        logger.info("run %s does not start yet: %s", run_id, reason)
        return Executed(None)
    return Claimed(workflow_id, version, input, definition, 1 if fresh else last_seq + 1, fresh)


async def stop_at_claim(db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID) -> Executed:
    """A claimed run that is finished, paused or asked to stop: nothing to execute; a stop request
    asked while no worker was executing it is applied (audited)."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        run = (
            await session.execute(
                select(Run).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
            )
        ).scalar_one_or_none()
        if run is None:
            return Executed(None)
        if run.status in FINISHED_STATUSES or run.status == "paused":
            # A run cancelled while it was not running still has its checkpoints.
            return Executed(None, prune=run.status == "cancelled")
        if run.stop_request is None:  # withdrawn meanwhile: cannot happen (never withdrawn)
            return Executed(None)
        status = await apply_stop_request(session, run)
        return Executed(status, prune=status == "cancelled")


#: whether admission holds back any queued run of the tenant (parameter ``tenant``)
ANY_HELD = (
    "SELECT EXISTS (SELECT 1 FROM runs WHERE tenant_id = %(tenant)s AND status = 'queued'"
    " AND held_at IS NOT NULL)"
)


async def any_held(db: Database, tenant_id: uuid.UUID) -> bool:
    """Whether admission holds back any queued run of the tenant (one indexed read): when none
    is, the end of a run has nothing to kick."""
    async with db.pipeline(DbScope.tenant(tenant_id)) as conn:
        cursor = await conn.execute(ANY_HELD, {"tenant": tenant_id})
    row = await cursor.fetchone()
    return bool(row and row[0])


def definition_of(claimed: Claimed) -> dict[str, Any]:
    """The claimed run's definition, parsed."""
    parsed: dict[str, Any] = orjson.loads(claimed.definition)
    return parsed


__all__ = ["ANY_HELD", "any_held", "claim", "definition_of", "quota_parameters", "stop_at_claim"]
