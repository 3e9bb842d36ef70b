"""What a run leaves behind while it executes: step events and the side-effect journal.

A journal write is a short transaction of its own, committed before the step goes on. Step events
are written either one by one as they happen (:func:`record_event`) or, for a run executed with
``exit`` durability, collected in memory and written in one statement with the run's outcome
(:func:`insert_events`): an execution that dies before that leaves no events, and its
re-execution (from the start or the last pause) records them again, so the timeline has no gap
and no duplicate either way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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


async def write_journal(
    db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, key: str, result: Any, *, cost_micros: int = 0
) -> None:
    """Journal a completed side effect (committed on return; a second write of a key is ignored).

    ``cost_micros`` (what the effect cost) is added to the run's cost in the same transaction, and
    only by the write that journals the key, so a replayed step never counts twice."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        written = (
            await session.execute(
                insert(StepJournal)
                .values(
                    tenant_id=tenant_id,
                    run_id=run_id,
                    idempotency_key=key,
                    result=result,
                    completed_at=utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(StepJournal.idempotency_key)
            )
        ).scalar_one_or_none()
        if written is not None and cost_micros:
            await session.execute(
                update(Run)
                .where(Run.tenant_id == tenant_id, Run.id == run_id)
                .values(cost_micros=Run.cost_micros + cost_micros)
            )


async def last_event_seq(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> int:
    """The number of the run's newest step event (0 if none): where an execution continues."""
    last = await session.execute(
        select(func.coalesce(func.max(RunEvent.seq), 0)).where(
            RunEvent.tenant_id == tenant_id, RunEvent.run_id == run_id
        )
    )
    return int(last.scalar_one())


async def record_event(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    seq: int,
    node_id: str,
    kind: str,
    status: str,
    input: Any = None,
    output: Any = None,
    error: str | None = None,
    duration_ms: int = 0,
) -> None:
    """Append step event ``seq`` to the run's history: one INSERT, committed on return.

    ``seq`` comes from the executing worker's counter (one worker executes a run at a time; it
    starts from :func:`last_event_seq`), so no lock or read is needed per step."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        await session.execute(
            insert(RunEvent).values(
                tenant_id=tenant_id,
                run_id=run_id,
                seq=seq,
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


#: the columns of collected step events, as ``jsonb_to_recordset`` reads them
EVENT_COLUMNS = (
    "seq integer, node_id text, kind text, status text, input jsonb, output jsonb, error text,"
    " duration_ms integer, at timestamptz"
)
_INSERT_EVENTS = text(
    "INSERT INTO run_events"
    " (tenant_id, run_id, seq, node_id, kind, status, input, output, error, duration_ms, at)"
    " SELECT :tenant, :run, e.seq, e.node_id, e.kind, e.status, e.input, e.output, e.error,"
    " e.duration_ms, e.at"
    f" FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS e({EVENT_COLUMNS})"
)


async def insert_events(
    session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, events: list[dict[str, Any]]
) -> None:
    """Append collected step events (dicts of :class:`RunEvent` columns without the run's keys)
    in one INSERT of one parameter, in the caller's transaction."""
    if events:
        payload = orjson.dumps(events, option=orjson.OPT_NON_STR_KEYS).decode()
        await session.execute(_INSERT_EVENTS, {"tenant": tenant_id, "run": run_id, "events": payload})
