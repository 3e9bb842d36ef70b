"""The forms table: questions a waiting run asks a person, and their answers (migration
``0006_forms``).

Key contracts: one row per run, form node and visit of the node (``(tenant_id, run_id, node_id,
visit)`` is unique: a loop through the form asks again on each pass), so
re-executing the node never asks twice; ``fields`` holds the node's questions as the definition
gave them (the answers are checked against these, not against a later version); ``status`` goes
from ``pending`` to ``answered`` once, and ``answers`` then holds the checked, normalised answers
(one key per question, ``null`` for an optional one left unanswered).
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

FORM_STATUSES = ("pending", "answered")


class Form(Base):
    """The questions of a run's form step, and the answers once someone gives them."""

    __tablename__ = "forms"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "run_id"], ["runs.tenant_id", "runs.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "run_id", "node_id", "visit"),
        CheckConstraint("status IN ('pending', 'answered')", name="status"),
        Index("ix_forms_status", "tenant_id", "status", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID)
    node_id: Mapped[str] = mapped_column(Text)
    visit: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    title: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, default="pending")
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    answered_by: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


__all__ = ["FORM_STATUSES", "Form"]
