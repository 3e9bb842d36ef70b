"""The integration tables: a tenant's connected provider accounts, the webhook deliveries they
receive, the events those deliveries carry (the inbox), and outbound side effects (the outbox).

Key contracts: every table leads its primary key with ``tenant_id`` and is under forced row-level
security (migration ``0012_integrations``).

* ``integrations``: credentials are never stored in the clear: ``sealed_credentials`` is the JSON
  of the credentials encrypted (AES-256-GCM) with a per-integration data key, and
  ``wrapped_key`` is that data key encrypted with the vault's key-encryption key, named by
  ``key_id`` (so rotation re-wraps without reading every secret twice). The webhook URL token is
  sealed too (``sealed_webhook_token``): the connector needs it to tell the provider where to
  call back. The ingress finds an integration by id before any tenant is bound (``auth`` scope
  may read it).
* ``webhook_deliveries``: every accepted delivery (and every malformed one, for inspection) is
  stored before the provider gets its answer; forged deliveries are not stored.
* ``inbox_events``: the events of accepted deliveries, unique per integration and provider event
  id (a replayed delivery adds nothing), processed asynchronously with retries.
* ``integration_cursors``: each polling trigger's cursor and last poll; a poll's events go into
  the inbox like a webhook delivery's (same dedupe), its delivery row marked as polled.
* ``outbox``: an outbound side effect written in the same transaction as the change that causes
  it, unique per idempotency key, delivered by workers with retries.
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
    LargeBinary,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import new_id, utcnow
from smeflow.db import Base

INTEGRATION_STATUSES = ("active", "disabled")
DELIVERY_STATUSES = ("accepted", "malformed")
WORK_STATUSES = ("pending", "processed", "failed")


class Integration(Base):
    """A tenant's account with one provider (M-Pesa paybill, Paystack business, WhatsApp number)."""

    __tablename__ = "integrations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        # the webhook ingress finds an integration by its id alone, before any tenant is known
        Index("ix_integrations_id", "id", unique=True),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    connector: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="active")
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sealed_credentials: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(Text)
    sealed_webhook_token: Mapped[bytes] = mapped_column(LargeBinary)
    allowed_ips: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(Text)


class WebhookDelivery(Base):
    """One webhook request a provider made that passed verification (or was malformed)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "integration_id"],
            ["integrations.tenant_id", "integrations.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("status IN ('accepted', 'malformed')", name="status"),
        Index("ix_webhook_deliveries_integration", "tenant_id", "integration_id", "received_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    integration_id: Mapped[uuid.UUID] = mapped_column(UUID)
    connector: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    client_ip: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InboxEvent(Base):
    """One event of an accepted delivery, processed once (unique per integration + event id)."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "integration_id"],
            ["integrations.tenant_id", "integrations.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["webhook_deliveries.tenant_id", "webhook_deliveries.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "integration_id", "event_id"),
        CheckConstraint("status IN ('pending', 'processed', 'failed')", name="status"),
        Index("ix_inbox_events_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    integration_id: Mapped[uuid.UUID] = mapped_column(UUID)
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID)
    event_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxItem(Base):
    """An outbound side effect (a connector action) to deliver, once per idempotency key."""

    __tablename__ = "outbox"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "integration_id"],
            ["integrations.tenant_id", "integrations.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint("status IN ('pending', 'processed', 'failed')", name="status"),
        Index("ix_outbox_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    integration_id: Mapped[uuid.UUID] = mapped_column(UUID)
    action: Mapped[str] = mapped_column(Text)
    input: Mapped[dict[str, Any]] = mapped_column(JSONB)
    idempotency_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IntegrationCursor(Base):
    """Where an integration's polling trigger stopped last time (its dedupe cursor) and when."""

    __tablename__ = "integration_cursors"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "integration_id"],
            ["integrations.tenant_id", "integrations.id"],
            ondelete="CASCADE",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    integration_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    trigger: Mapped[str] = mapped_column(Text, primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


__all__ = [
    "DELIVERY_STATUSES",
    "INTEGRATION_STATUSES",
    "WORK_STATUSES",
    "InboxEvent",
    "Integration",
    "IntegrationCursor",
    "OutboxItem",
    "WebhookDelivery",
]
