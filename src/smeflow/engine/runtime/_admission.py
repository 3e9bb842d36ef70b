"""Admission: whether a run of a tenant may start now. Two rules, checked when a worker claims a
run, and used to choose which queued runs to start when a slot frees:

* **Concurrent-run quota**: at most ``concurrent_runs`` of the tenant's tier
  (``Settings.tier(tier).concurrent_runs``) are ``running`` at once, across all workers. Runs
  waiting (for a person or a time) or paused do not count.
* **Order per key**: a run with an ``order_key`` starts only when no other run of the tenant with
  that key is ``running`` and none accepted before it (``created_at``, then id) is still
  ``queued``. So the runs of one key execute one at a time, in the order they were accepted, and
  a run *waiting* (or paused) lets the next one go: a conversation's run may wait days for a
  person. A run of the key woken (a decision, a due wait) goes again when the running one is done,
  before the later runs still queued.

Race-free: a claim first takes a transaction-scoped advisory lock of its tenant
(:data:`LOCK_TENANT`, in a statement before the one that counts, so that count sees every claim
that committed before), so two workers claiming runs of one tenant at once count one after the
other. The claim's decision is :data:`VERDICT` (SQL, in the claim's one statement: see
:mod:`._claiming`). A run that may not start yet stays ``queued``, is marked held (``held_at``) and its job
ends: nothing polls. Whenever an execution of a tenant's run ends (finished, waiting, paused,
cancelled) the queue defers the *held* runs :func:`startable` names (queued runs that were never
held still have their job: kicking them too would cost a deferral per queued run on every run's
end); the sweeper defers any startable run queued too long (a lost kick).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from smeflow.engine.run_models import Run
from smeflow.tenancy.models import Tenant

#: the tenant's tier → how many of its runs may be running at once (``None``: no limit)
Quota = Callable[[str], int | None]

ADMISSION_LOCK = 0x534D45  # the advisory-lock namespace of run admission (one lock per tenant)
STARTABLE_BATCH = 100


#: take the tenant's admission lock until the transaction ends (``space``: :data:`ADMISSION_LOCK`,
#: ``tenant_text``: the tenant id as text)
LOCK_TENANT = "SELECT pg_advisory_xact_lock(%(space)s, hashtext(%(tenant_text)s))"

#: the admission of a claimed run, as a SQL ``CASE`` over the run ``t`` (its ``status``,
#: ``stop_request``, ``order_key``, ``created_at``) and ``c`` (``running``: the tenant's running
#: runs; ``tier``): ``'other'`` (finished, paused or asked to stop: not for admission), ``'go'``
#: (running already, or admitted), ``'quota'`` or ``'order'`` (held back, and why). Parameters:
#: ``tenant``, ``run``, ``quotas`` (JSON: tier → ``concurrent_runs``; NULL: no limit) and
#: ``fallback`` (an unknown tier's).
VERDICT = """
CASE
  WHEN t.status IN ('succeeded', 'failed', 'cancelled', 'paused') OR t.stop_request IS NOT NULL
    THEN 'other'
  WHEN t.status = 'running' THEN 'go'
  WHEN %(quotas)s::jsonb IS NOT NULL
       AND c.running >= CASE WHEN %(quotas)s::jsonb ? c.tier THEN (%(quotas)s::jsonb ->> c.tier)::bigint
                             ELSE %(fallback)s::bigint END
    THEN 'quota'
  WHEN t.order_key IS NOT NULL AND EXISTS (
         SELECT 1 FROM runs o
          WHERE o.tenant_id = %(tenant)s AND o.order_key = t.order_key AND o.id <> %(run)s
            AND (o.status = 'running'
                 OR (o.status = 'queued' AND (o.created_at, o.id) < (t.created_at, %(run)s::uuid)))
       )
    THEN 'order'
  ELSE 'go'
END
"""


def _key_taken(run_id: Any, tenant_id: Any, order_key: Any, created_at: Any) -> ColumnElement[bool]:
    """Another run of the key is running, or was accepted earlier and is still queued (the
    arguments are a run's values, or the columns of the outer query)."""
    other = aliased(Run)
    return exists().where(
        other.tenant_id == tenant_id,
        other.order_key == order_key,
        other.id != run_id,
        or_(
            other.status == "running",
            and_(other.status == "queued", tuple_(other.created_at, other.id) < tuple_(created_at, run_id)),
        ),
    )


def _tier(tenant_id: uuid.UUID) -> ColumnElement[str]:
    return select(Tenant.tier).where(Tenant.id == tenant_id).scalar_subquery()


def _running(tenant_id: uuid.UUID) -> ColumnElement[int]:
    return (
        select(func.count()).select_from(Run).where(Run.tenant_id == tenant_id, Run.status == "running")
    ).scalar_subquery()


async def startable(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    quota: Quota,
    *,
    older_than: datetime | None = None,
    held: bool = False,
) -> list[uuid.UUID]:
    """The tenant's queued runs that may start now, in the order they were accepted: no more than
    its free slots, and of each order key only the first (accepted before ``older_than`` if given;
    with ``held``, only runs admission held back: the others have their job already)."""
    if held:
        found = await session.execute(
            select(Run.id)
            .where(Run.tenant_id == tenant_id, Run.status == "queued", Run.held_at.is_not(None))
            .limit(1)
        )
        if found.first() is None:  # the common case: one indexed read and done
            return []
    tier, running = (await session.execute(select(_tier(tenant_id), _running(tenant_id)))).one()
    allowed = quota(tier or "free")
    free = STARTABLE_BATCH if allowed is None else min(allowed - running, STARTABLE_BATCH)
    if free <= 0:
        return []
    query = (
        select(Run.id)
        .where(
            Run.tenant_id == tenant_id,
            Run.status == "queued",
            ~_key_taken(Run.id, Run.tenant_id, Run.order_key, Run.created_at),
        )
        .order_by(Run.created_at, Run.id)
        .limit(free)
    )
    if older_than is not None:
        query = query.where(Run.created_at < older_than)
    if held:
        query = query.where(Run.held_at.is_not(None))
    return list((await session.execute(query)).scalars())


__all__ = ["ADMISSION_LOCK", "LOCK_TENANT", "VERDICT", "Quota", "startable"]
