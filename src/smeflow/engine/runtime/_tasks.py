"""What people are asked by waiting runs (approvals, forms), listed the same way: pending ones
first, newest first within each group, paged by the cursor ``(0 pending | 1 other, id)``."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.engine.approval_models import Approval
from smeflow.engine.form_models import Form

Task = TypeVar("Task", Approval, Form)


async def list_pending_first(
    session: AsyncSession,
    model: type[Task],
    tenant_id: uuid.UUID,
    limit: int,
    *,
    status: str | None,
    run_id: uuid.UUID | None,
    after: tuple[int, uuid.UUID] | None,
) -> list[Task]:
    """A page of the tenant's ``model`` rows (in one status, of one run, if given) after the
    cursor ``after`` (see :func:`pending_cursor`)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rank: Any = case((model.status == "pending", 0), else_=1)
    query = select(model).where(model.tenant_id == tenant_id)
    if status is not None:
        query = query.where(model.status == status)
    if run_id is not None:
        query = query.where(model.run_id == run_id)
    if after is not None:
        last_rank, last_id = after
        query = query.where((rank > last_rank) | ((rank == last_rank) & (model.id < last_id)))
    query = query.order_by(rank, model.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


def pending_cursor(task: Approval | Form) -> tuple[int, uuid.UUID]:
    """The sort key of an approval or form in :func:`list_pending_first`."""
    return (0 if task.status == "pending" else 1, task.id)


__all__ = ["list_pending_first", "pending_cursor"]
