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

Race-free: a claim that admits a run first takes a transaction-scoped advisory lock of its tenant
(:func:`lock_tenant`), so two workers claiming runs of one tenant at once count one after the
other. A run that may not start yet stays ``queued``, is marked held (``held_at``) and its job
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

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from smeflow.engine.run_models import Run
from smeflow.tenancy.models import Tenant

#: the tenant's tier → how many of its runs may be running at once (``None``: no limit)
Quota = Callable[[str], int | None]

ADMISSION_LOCK = 0x534D45  # the advisory-lock namespace of run admission (one lock per tenant)
STARTABLE_BATCH = 100


async def lock_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Take the tenant's admission lock until the transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:space, hashtext(:tenant))"),
        {"space": ADMISSION_LOCK, "tenant": str(tenant_id)},
    )


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


async def blocked(session: AsyncSession, run: Run, quota: Quota) -> str | None:
    """Why ``run`` may not start now (``None``: it may). Call with :func:`lock_tenant` held."""
    behind = (
        _key_taken(run.id, run.tenant_id, run.order_key, run.created_at)
        if run.order_key is not None
        else literal(False)
    )
    tier, running, waits = (
        await session.execute(select(_tier(run.tenant_id), _running(run.tenant_id), behind))
    ).one()
    allowed = quota(tier or "free")
    if allowed is not None and running >= allowed:
        return f"the tenant has {running} runs running, the most its plan allows at once"
    if waits:
        return f"a run with the order key {run.order_key!r} is running, or queued before it"
    return None


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


__all__ = ["ADMISSION_LOCK", "Quota", "blocked", "lock_tenant", "startable"]
