"""The trigger tables: each workflow's webhook secret, its registered schedules, and the keys that
make a trigger start a run once.

Key contracts: every table leads its primary key with ``tenant_id`` and is under forced row-level
security (migration ``0008_triggers``).

* ``webhook_secrets``: one per workflow, **sealed** (``smeflow.core.sealing``, purpose
  ``webhook-secret``, bound to tenant + workflow); the plain secret is shown once, when made.
* ``workflow_schedules``: one row per schedule trigger of the workflow's newest published
  version (replaced on every publish, removed on archive), with its next fire time.
* ``trigger_keys``: ``(tenant, workflow, key)`` is unique, so a key starts at most one run:
  ``hook:<Idempotency-Key>`` for webhooks (reusable after 24 h), ``schedule:<fire time>`` for
  schedules. Rows older than 24 h are pruned by the queue's sweeper.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKeyConstraint, Index, Integer, LargeBinary, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import utcnow
from smeflow.db import Base


class WebhookSecret(Base):
    """The secret a workflow's webhook callers sign requests with (sealed)."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "workflow_id"], ["workflows.tenant_id", "workflows.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(Text)


class WorkflowSchedule(Base):
    """A schedule trigger of a workflow's newest published version and when it fires next."""

    __tablename__ = "workflow_schedules"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "workflow_id"], ["workflows.tenant_id", "workflows.id"], ondelete="CASCADE"
        ),
        Index("ix_workflow_schedules_next_fire_at", "next_fire_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    trigger_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    cron: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str | None] = mapped_column(Text)  # None: the tenant's
    next_fire_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TriggerKey(Base):
    """A key that started a run of a workflow (an ``Idempotency-Key``, a schedule's fire time)."""

    __tablename__ = "trigger_keys"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "run_id"],
            ["runs.tenant_id", "runs.id"],
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",  # the key is claimed before its run is written
        ),
        Index("ix_trigger_keys_created_at", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


__all__ = ["TriggerKey", "WebhookSecret", "WorkflowSchedule"]
