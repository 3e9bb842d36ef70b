"""The run tables: runs of a pinned workflow version, their step events, and the side-effect journal.

Key contracts: every table leads its primary key with ``tenant_id`` and is under forced row-level
security (migration ``0003_runs``). A run's ``error`` is a sentence the tenant understands (never a
stack trace). A sub-workflow run names its parent run and the parent's step that started it
(``parent_run_id``, ``parent_node_id``: unique, so a step starts one child; migration
``0007_events``). ``step_journal`` rows are written once per side effect (key ``"<run>:<node>"``) and
never changed: a resumed run reads them instead of repeating the effect.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import new_id, utcnow
from smeflow.db import Base

RUN_STATUSES = ("queued", "running", "waiting", "paused", "succeeded", "failed", "cancelled")
FINISHED_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
STOP_REQUESTS = ("cancel", "pause")


class Run(Base):
    """One execution of one published workflow version."""

    __tablename__ = "runs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "workflow_id", "version"],
            ["workflow_versions.tenant_id", "workflow_versions.workflow_id", "workflow_versions.version"],
            ondelete="CASCADE",
        ),
        CheckConstraint(
            "status IN ('queued', 'running', 'waiting', 'paused', 'succeeded', 'failed', 'cancelled')",
            name="status",
        ),
        CheckConstraint("stop_request IN ('cancel', 'pause')", name="stop_request"),
        Index("ix_runs_queued", "created_at", postgresql_where=text("status = 'queued'")),
        Index("ix_runs_waiting", "created_at", postgresql_where=text("status = 'waiting'")),
        ForeignKeyConstraint(
            ["tenant_id", "parent_run_id"], ["runs.tenant_id", "runs.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "parent_run_id", "parent_node_id"),  # one child per step
        Index("ix_runs_running", "tenant_id", postgresql_where=text("status = 'running'")),
        Index("ix_runs_tenant_queued", "tenant_id", "created_at", postgresql_where=text("status = 'queued'")),
        Index(
            "ix_runs_order_key",
            "tenant_id",
            "order_key",
            "created_at",
            postgresql_where=text("order_key IS NOT NULL AND status IN ('queued', 'running')"),
        ),
        Index(
            "ix_runs_held",
            "tenant_id",
            "created_at",
            postgresql_where=text("held_at IS NOT NULL AND status = 'queued'"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    workflow_id: Mapped[uuid.UUID] = mapped_column(UUID)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, default="queued")
    input: Mapped[dict[str, Any]] = mapped_column(JSONB)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID)  # a sub-workflow run's parent
    parent_node_id: Mapped[str | None] = mapped_column(Text)  # and the parent's step that started it
    #: runs of the tenant with the same key execute one at a time, in the order accepted
    order_key: Mapped[str | None] = mapped_column(Text)
    #: ``cancel`` / ``pause`` asked of a running run, applied at its next step boundary
    stop_request: Mapped[str | None] = mapped_column(Text)
    #: who cancelled or paused the run (or asked to), and when
    stopped_by: Mapped[str | None] = mapped_column(Text)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: times the sweeper took the run over from a dead worker or a failed job (capped)
    recoveries: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    #: when admission last held the queued run back (its tenant at its quota, its key's turn not
    #: come); ``None`` once it starts. The end of another run kicks only held runs.
    held_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunEvent(Base):
    """One step of a run: the node, what it was given, what it gave back, how long it took."""

    __tablename__ = "run_events"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "run_id"], ["runs.tenant_id", "runs.id"], ondelete="CASCADE"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    input: Mapped[Any | None] = mapped_column(JSONB)
    output: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StepJournal(Base):
    """The result of one completed side effect, keyed by its idempotency key."""

    __tablename__ = "step_journal"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "run_id"], ["runs.tenant_id", "runs.id"], ondelete="CASCADE"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(Text, primary_key=True)
    result: Mapped[Any] = mapped_column(JSONB, nullable=True)
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


__all__ = ["FINISHED_STATUSES", "RUN_STATUSES", "STOP_REQUESTS", "Run", "RunEvent", "StepJournal"]
