"""The workflow tables: a tenant's workflows with their editable drafts, and published versions.

Key contracts: the draft is edited in place on :class:`Workflow`; publishing copies it into a new
:class:`WorkflowVersion` (1, 2, 3, … per workflow). Versions are immutable: the application role
may INSERT and SELECT them, never UPDATE or DELETE (a run pins one). ``created_by`` and friends
name the audit actor as ``"<type>:<id>"`` (``user:…``, ``api_key:…``, ``system:smeflow``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import new_id, utcnow
from smeflow.db import Base

WORKFLOW_STATUSES = ("draft", "active", "archived")


class Workflow(Base):
    """A workflow: its name, its draft definition (which may be invalid: work in progress) and
    the number of its newest published version (``None`` until first published).

    ``status``: ``draft`` (never published), ``active`` (has published versions), ``archived``
    (no more edits or publishes; its versions stay readable)."""

    __tablename__ = "workflows"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_workflows_name"),
        CheckConstraint("status IN ('draft', 'active', 'archived')", name="status"),
        CheckConstraint("latest_version IS NULL OR latest_version >= 1", name="latest_version"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(Text, default="draft")
    draft_definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    latest_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(Text)


class WorkflowVersion(Base):
    """One published, immutable definition of a workflow."""

    __tablename__ = "workflow_versions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "workflow_id"], ["workflows.tenant_id", "workflows.id"], ondelete="CASCADE"
        ),
        CheckConstraint("version >= 1", name="version"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_by: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")


__all__ = ["WORKFLOW_STATUSES", "Workflow", "WorkflowVersion"]
