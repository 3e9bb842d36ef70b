"""The event tables (migration ``0007_events``): internal events of a tenant, the event waits of
waiting runs, and the deliveries of events to those waits.

Key contracts: every table leads its primary key with ``tenant_id`` and is under forced row-level
security. An event's ``key`` is unique in its tenant (an event emitted twice with one key is
stored once). A run waits for at most one event per ``wait`` node (``event_waits`` is keyed by
run and node); the row is ``open`` while the step waits and ``closed`` once it has taken an event
or given up (a loop reaching the step again reopens it). A delivery is ``pending`` until the
waiting run looks at it: then ``taken`` (its ``match`` held: the step's event) or ``ignored``.
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
    Index,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import new_id, utcnow
from smeflow.db import Base

WAIT_STATUSES = ("open", "closed")
DELIVERY_STATUSES = ("pending", "taken", "ignored")


class Event(Base):
    """Something that happened in a tenant (``booking.created``), with its payload."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),  # NULLs are distinct: events without a key never clash
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    key: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EventWait(Base):
    """What a run's ``wait`` step waits for: an event name, and the CEL its payload must match."""

    __tablename__ = "event_waits"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "run_id"], ["runs.tenant_id", "runs.id"], ondelete="CASCADE"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        Index("ix_event_waits_open", "tenant_id", "event_name", postgresql_where=text("status = 'open'")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    node_id: Mapped[str] = mapped_column(Text, primary_key=True)
    event_name: Mapped[str] = mapped_column(Text)
    match: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # gives up then
    event_id: Mapped[uuid.UUID | None] = mapped_column(UUID)  # the event it took
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EventDelivery(Base):
    """One event delivered to one waiting step."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "run_id", "node_id"],
            ["event_waits.tenant_id", "event_waits.run_id", "event_waits.node_id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "event_id"], ["events.tenant_id", "events.id"], ondelete="CASCADE"
        ),
        CheckConstraint("status IN ('pending', 'taken', 'ignored')", name="status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    node_id: Mapped[str] = mapped_column(Text, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    status: Mapped[str] = mapped_column(Text, default="pending")
    delivered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


__all__ = ["DELIVERY_STATUSES", "WAIT_STATUSES", "Event", "EventDelivery", "EventWait"]
