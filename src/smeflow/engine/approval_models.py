"""The approvals table: a decision a waiting run asks of a person (migration ``0004_approvals``).

Key contracts: one row per run, approval node and visit of the node (``(tenant_id, run_id,
node_id, visit)`` is unique, migration ``0010_visits``), so re-executing the node never asks twice
while a loop through it asks again on each pass; ``details`` holds the evaluated ``details`` expressions
(what the person deciding needs to see); ``role`` is the least role that may decide. ``status``
goes from ``pending`` to ``approved`` / ``rejected`` (a person decided), ``expired`` (the due
time passed and the system applied ``default_outcome``) or ``cancelled`` (its run was cancelled:
no outcome), once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
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

APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired", "cancelled")
APPROVAL_ROLES = ("owner", "admin", "staff")


class Approval(Base):
    """A person's decision a run waits for: what to decide, who may, by when, and the decision."""

    __tablename__ = "approvals"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "run_id"], ["runs.tenant_id", "runs.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "run_id", "node_id", "visit"),
        CheckConstraint("visit >= 1", name="visit"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')", name="status"
        ),
        CheckConstraint("role IN ('owner', 'admin', 'staff')", name="role"),
        CheckConstraint("default_outcome IN ('approve', 'reject')", name="default_outcome"),
        Index("ix_approvals_due", "due_at", postgresql_where=text("status = 'pending'")),
        Index("ix_approvals_status", "tenant_id", "status", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID)
    node_id: Mapped[str] = mapped_column(Text)
    visit: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    title: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    role: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="pending")
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    default_outcome: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def outcome(self) -> str | None:
        """``approved`` or ``rejected`` once decided (an expired approval: its default outcome)."""
        if self.status in ("approved", "rejected"):
            return self.status
        if self.status == "expired":
            return "approved" if self.default_outcome == "approve" else "rejected"
        return None


__all__ = ["APPROVAL_ROLES", "APPROVAL_STATUSES", "Approval"]
