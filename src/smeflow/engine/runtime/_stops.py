"""Stopping a run: a ``cancel`` or ``pause`` asked of it, how it applies, and how a worker hears of
it without a database read per step.

Key contracts:

* A run that is not ``running`` is stopped at once by the service (:mod:`._control`). A running
  run gets a *stop request* instead (``runs.stop_request``, with ``stopped_by`` / ``stopped_at``)
  and a ``pg_notify`` on :data:`STOPS_CHANNEL` (payload: the run id) when that transaction commits.
* Every runtime LISTENs on that channel (:class:`StopSignals`) and flags the runs it is executing
  that are named. The step wrapper asks :meth:`StopSignals.check` before each step: an in-process
  set lookup, and only for a flagged run one read of its request; a run asked to stop raises
  :class:`RunStopped` there, so it stops at its next step boundary (the step in flight finishes;
  its last checkpoint stays). A listener that (re)connects flags every run it is executing (a
  notification may have been missed meanwhile), and a worker claiming a run reads its request too
  (a run whose worker died before it could stop).
* :func:`apply_stop_request` applies the request under the run's row lock, with its audit event
  in the same transaction: ``cancel`` → ``cancelled`` (finished; ``error`` says who cancelled it
  and when; its pending approvals are closed as ``cancelled``), ``pause`` → ``paused``.
  Requests only escalate (a pause may become a cancel) and are never withdrawn while the run is
  running, so a request seen at a boundary is still there when it is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime

import psycopg
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.approval_models import Approval
from smeflow.engine.run_models import Run

logger = logging.getLogger(__name__)

STOPS_CHANNEL = "smeflow_run_stops"
RECONNECT_SECONDS = 1.0


class RunStopped(Exception):
    """Raised at a step boundary of a run asked to stop (``kind``: ``cancel`` or ``pause``)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def cancel_message(by: str, at: datetime) -> str:
    """The ``error`` of a cancelled run: who cancelled it, and when."""
    return f"Cancelled by {by} at {at:%Y-%m-%d %H:%M:%S} UTC"


async def close_pending_approvals(
    session: AsyncSession, tenant_id: uuid.UUID, run_id: uuid.UUID, by: str, at: datetime
) -> int:
    """Close the run's pending approvals as ``cancelled`` (no outcome); how many."""
    closed = await session.execute(
        update(Approval)
        .where(Approval.tenant_id == tenant_id, Approval.run_id == run_id, Approval.status == "pending")
        .values(status="cancelled", decided_by=by, decided_at=at)
        .returning(Approval.id)
    )
    return len(closed.all())


async def stop_run(session: AsyncSession, run: Run, kind: str, by: str, at: datetime) -> int:
    """Cancel (``kind="cancel"``) or pause the locked ``run`` now, in the session's transaction
    (the caller audits); for a cancel, how many pending approvals it closed."""
    run.stop_request = None
    run.stopped_by, run.stopped_at = by, at
    if kind == "pause":
        run.status = "paused"
        await session.flush()
        return 0
    run.status, run.error, run.finished_at = "cancelled", cancel_message(by, at), utcnow()
    await session.flush()
    return await close_pending_approvals(session, run.tenant_id, run.id, by, at)


async def apply_stop_request(session: AsyncSession, run: Run) -> str:
    """Apply the pending stop request of the locked ``run`` (a worker at a step boundary, or
    claiming it) and audit it (``run.cancelled`` / ``run.paused``, by the run, naming who asked);
    the run's new status."""
    kind, by, at = run.stop_request, run.stopped_by or "system:unknown", run.stopped_at or utcnow()
    if kind is None:
        return run.status
    closed = await stop_run(session, run, kind, by, at)
    details: dict[str, object] = {"requested_by": by, "requested_at": at.isoformat()}
    if closed:
        details["approvals_closed"] = closed
    await record(
        session,
        run.tenant_id,
        Actor("workflow_run", str(run.id)),
        f"run.{run.status}",
        "run",
        str(run.id),
        details,
    )
    return run.status


class StopSignals:
    """The runs this process executes that may have been asked to stop: fed by LISTEN on
    :data:`STOPS_CHANNEL`, checked by the step wrapper. Open with :meth:`open`, close with
    :meth:`close`."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._executing: set[uuid.UUID] = set()
        self._flags: dict[uuid.UUID, int] = {}  # run → how often flagged (a flag seen stale is dropped)
        self._listener: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Start listening (connected and listening when this returns)."""
        if self._listener is None:
            connection = await self._connect()
            self._listener = asyncio.create_task(self._listen(connection), name="smeflow-run-stops")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    @contextlib.contextmanager
    def executing(self, run_id: uuid.UUID) -> Iterator[None]:
        """While this process executes ``run_id``: requests naming it are noticed."""
        self._executing.add(run_id)
        try:
            yield
        finally:
            self._executing.discard(run_id)
            self._flags.pop(run_id, None)

    def flagged(self, run_id: uuid.UUID) -> bool:
        """Whether the run may have been asked to stop (its next step boundary reads the request)."""
        return run_id in self._flags

    def _flag(self, run_id: uuid.UUID) -> None:
        self._flags[run_id] = self._flags.get(run_id, 0) + 1

    async def check(self, db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """At a step boundary: :class:`RunStopped` if the run was asked to stop."""
        seen = self._flags.get(run_id)
        if seen is None:
            return
        async with db.transaction(DbScope.tenant(tenant_id)) as session:
            kind = (
                await session.execute(
                    select(Run.stop_request).where(Run.tenant_id == tenant_id, Run.id == run_id)
                )
            ).scalar_one_or_none()
        if kind is not None:
            raise RunStopped(kind)
        if self._flags.get(run_id) == seen:  # not flagged again meanwhile
            self._flags.pop(run_id, None)

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        await connection.execute(f"LISTEN {STOPS_CHANNEL}")
        for run_id in self._executing:  # a request may have come while nobody listened
            self._flag(run_id)
        return connection

    def _heard(self, payload: str) -> None:
        try:
            run_id = uuid.UUID(payload)
        except ValueError:
            logger.warning("ignoring a run stop notification naming %r", payload)
            return
        if run_id in self._executing:
            self._flag(run_id)

    async def _listen(self, connection: psycopg.AsyncConnection[tuple[object, ...]] | None) -> None:
        while True:
            try:
                if connection is None:
                    connection = await self._connect()
                async with connection:
                    async for note in connection.notifies():
                        self._heard(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: listen again shortly
                logger.warning("the run stop listener lost its connection; retrying", exc_info=True)
                await asyncio.sleep(RECONNECT_SECONDS)
            connection = None


__all__ = [
    "STOPS_CHANNEL",
    "RunStopped",
    "StopSignals",
    "apply_stop_request",
    "cancel_message",
    "close_pending_approvals",
    "stop_run",
]
