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
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.run_models import RunEvent


@dataclass(frozen=True, slots=True)
class Journaled:
    """A journaled side effect's result."""

    result: Any


#: a transaction whose commit does not wait for its WAL flush (``synchronous_commit`` off for it
#: alone): for writes a database crash may lose with no harm, because whatever depends on them is
#: written later and flushes them first (a later flush writes out all the WAL before it)
NO_FLUSH_WAIT = "SELECT set_config('synchronous_commit', 'off', true)"

_READ_JOURNAL = (
    "SELECT result FROM step_journal WHERE tenant_id = %(tenant)s AND run_id = %(run)s"
    " AND idempotency_key = %(key)s"
)
# The journal row, and the run's cost only if this statement journaled the key.
_WRITE_JOURNAL = """
WITH written AS (
    INSERT INTO step_journal (tenant_id, run_id, idempotency_key, result, completed_at)
    VALUES (%(tenant)s, %(run)s, %(key)s, %(result)s::jsonb, %(now)s)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
UPDATE runs SET cost_micros = cost_micros + %(cost)s
 WHERE tenant_id = %(tenant)s AND id = %(run)s AND %(cost)s <> 0 AND EXISTS (SELECT 1 FROM written)
"""
_INSERT_EVENT = (
    "INSERT INTO run_events"
    " (tenant_id, run_id, seq, node_id, kind, status, input, output, error, duration_ms, at)"
    " VALUES (%(tenant)s, %(run)s, %(seq)s, %(node)s, %(kind)s, %(status)s, %(input)s::jsonb,"
    " %(output)s::jsonb, %(error)s, %(duration)s, %(at)s)"
)


def _json(value: Any) -> str | None:
    """A JSON column's parameter (``None``: SQL NULL, as the ORM writes a ``None`` value)."""
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def read_journal(db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, key: str) -> Journaled | None:
    """The journaled result of the side effect ``key`` of the run, or ``None`` if it has not completed."""
    async with db.pipeline(DbScope.tenant(tenant_id)) as conn:
        cursor = await conn.execute(_READ_JOURNAL, {"tenant": tenant_id, "run": run_id, "key": key})
    row = await cursor.fetchone()
    return None if row is None else Journaled(row[0])


async def write_journal(
    db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, key: str, result: Any, *, cost_micros: int = 0
) -> None:
    """Journal a completed side effect (committed on return; a second write of a key is ignored).

    ``cost_micros`` (what the effect cost) is added to the run's cost in the same statement, and
    only by the write that journals the key, so a replayed step never counts twice."""
    params = {
        "tenant": tenant_id,
        "run": run_id,
        "key": key,
        "result": _json(result),
        "now": utcnow(),
        "cost": cost_micros,
    }
    async with db.pipeline(DbScope.tenant(tenant_id)) as conn:
        await conn.execute(_WRITE_JOURNAL, params)


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
    """Append step event ``seq`` to the run's history: one INSERT, committed on return (one
    round trip), without waiting for its WAL flush (:data:`NO_FLUSH_WAIT`).

    ``seq`` comes from the executing worker's counter (one worker executes a run at a time; it
    starts from :func:`last_event_seq`), so no lock or read is needed per step. An event lost in
    a database crash went with everything written after it (the step's checkpoint, its journal
    row, the run's end: their flush would have made it durable first), so the run re-executes
    that step from its last checkpoint and records the event again: no gap, no duplicate."""
    params = {
        "tenant": tenant_id,
        "run": run_id,
        "seq": seq,
        "node": node_id,
        "kind": kind,
        "status": status,
        "input": _json(input),
        "output": _json(output),
        "error": error,
        "duration": duration_ms,
        "at": utcnow(),
    }
    async with db.pipeline(DbScope.tenant(tenant_id)) as conn:
        await conn.execute(NO_FLUSH_WAIT)
        await conn.execute(_INSERT_EVENT, params)


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
