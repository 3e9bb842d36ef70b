"""A run's ``smeflow.execute_run`` job written in the transaction that accepts the run.

The job row goes in with the run (procrastinate's own ``procrastinate_defer_jobs_v1`` and job
type, in the ``engine`` schema): both commit or neither does, and procrastinate's insert trigger
tells the workers at that commit; no defer after the commit, no second connection. Its functions
and triggers name their tables without a schema, so ``engine`` leads the transaction's
``search_path`` for that one statement (set and restored locally, in the same round trip).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

EXECUTE_RUN = "smeflow.execute_run"
QUEUE = "default"  # procrastinate's default queue, where RunQueue defers every job

_ENGINE_FIRST = "SELECT set_config('search_path', 'engine, ' || current_setting('search_path'), true)"
_DEFER = (
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(%(queue)s, %(task)s, 0, %(lock)s, %(lock)s,"
    " %(args)s::jsonb, NULL)]::procrastinate_job_to_defer_v1[])"
)
_ENGINE_BACK = "SELECT set_config('search_path', substr(current_setting('search_path'), 9), true)"


def search_path_engine_first() -> str:
    """The statement that puts ``engine`` first in the transaction's ``search_path``."""
    return _ENGINE_FIRST


def search_path_restored() -> str:
    """The statement that undoes :func:`search_path_engine_first`."""
    return _ENGINE_BACK


def run_lock(run_id: uuid.UUID) -> str:
    """The queue lock of a run's jobs: one job of a run executes at a time."""
    return f"run:{run_id}"


async def insert_run_job(session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Write the job that executes the new run ``run_id`` in the session's transaction (one round
    trip). Only for a run accepted in this transaction: it has no job yet, so its queueing lock
    is free."""
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    args = orjson.dumps({"tenant_id": str(tenant_id), "run_id": str(run_id)}).decode()
    async with driver.pipeline():
        await driver.execute(_ENGINE_FIRST)
        await driver.execute(
            _DEFER, {"queue": QUEUE, "task": EXECUTE_RUN, "lock": run_lock(run_id), "args": args}
        )
        await driver.execute(_ENGINE_BACK)


__all__ = [
    "EXECUTE_RUN",
    "QUEUE",
    "insert_run_job",
    "run_lock",
    "search_path_engine_first",
    "search_path_restored",
]
