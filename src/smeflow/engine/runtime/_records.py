"""What a run leaves behind while it executes: step events and the side-effect journal. Each write
is a short transaction of its own, committed before the step goes on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.run_models import Run, RunEvent, StepJournal


@dataclass(frozen=True, slots=True)
class Journaled:
    """A journaled side effect's result."""

    result: Any


async def read_journal(db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, key: str) -> Journaled | None:
    """The journaled result of the side effect ``key`` of the run, or ``None`` if it has not completed."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        row = (
            await session.execute(
                select(StepJournal.result).where(
                    StepJournal.tenant_id == tenant_id,
                    StepJournal.run_id == run_id,
                    StepJournal.idempotency_key == key,
                )
            )
        ).one_or_none()
    return None if row is None else Journaled(row[0])


async def write_journal(db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, key: str, result: Any) -> None:
    """Journal a completed side effect (committed on return; a second write of a key is ignored)."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        await session.execute(
            insert(StepJournal)
            .values(
                tenant_id=tenant_id, run_id=run_id, idempotency_key=key, result=result, completed_at=utcnow()
            )
            .on_conflict_do_nothing()
        )


async def record_event(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    node_id: str,
    kind: str,
    status: str,
    input: Any = None,
    output: Any = None,
    error: str | None = None,
    duration_ms: int = 0,
) -> None:
    """Append one step event to the run's history (numbered under the run's row lock)."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        await session.execute(
            select(Run.id).where(Run.tenant_id == tenant_id, Run.id == run_id).with_for_update()
        )
        last = (
            await session.execute(
                select(func.coalesce(func.max(RunEvent.seq), 0)).where(
                    RunEvent.tenant_id == tenant_id, RunEvent.run_id == run_id
                )
            )
        ).scalar_one()
        session.add(
            RunEvent(
                tenant_id=tenant_id,
                run_id=run_id,
                seq=last + 1,
                node_id=node_id,
                kind=kind,
                status=status,
                input=input,
                output=output,
                error=error,
                duration_ms=duration_ms,
                at=utcnow(),
            )
        )
