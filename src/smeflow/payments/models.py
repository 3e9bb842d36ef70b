"""The payment tables: a payment's current state and every change of it.

Key contracts: both tables lead their primary key with ``tenant_id`` under forced row-level
security (migration ``0013_payments``); the workers' ``platform`` scope may read pending payments
(to reconcile the ones whose callback never came) and nothing else.

* ``payments``: amount in integer minor units + ISO currency; ``reference`` is SMEFlow's (unique
  per tenant: derived from the run step that asked, so asking twice is one payment);
  ``provider_reference`` is the provider's handle for it (Daraja's CheckoutRequestID, Paystack's
  and Flutterwave's reference), unique per integration once known.
* ``payment_transitions``: append-only history (the app role may not update or delete it): each
  row says from which state to which, what caused it (``request``, ``callback``, ``query``) and
  which provider event, so an auditor can replay how money moved.
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
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import new_id, utcnow
from smeflow.db import Base

PAYMENT_STATUSES = ("created", "pending", "succeeded", "failed", "reversed")
_STATUS_CHECK = "status IN ('created', 'pending', 'succeeded', 'failed', 'reversed')"


class Payment(Base):
    """Money a customer is asked to pay a tenant, and where that stands."""

    __tablename__ = "payments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "integration_id"],
            ["integrations.tenant_id", "integrations.id"],
            ondelete="RESTRICT",
        ),
        UniqueConstraint("tenant_id", "reference"),
        UniqueConstraint("tenant_id", "integration_id", "provider_reference"),
        CheckConstraint(_STATUS_CHECK, name="status"),
        CheckConstraint("amount_minor > 0", name="amount"),
        Index("ix_payments_pending", "updated_at", postgresql_where=text("status = 'pending'")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    integration_id: Mapped[uuid.UUID] = mapped_column(UUID)
    connector: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    provider_reference: Mapped[str | None] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="created")
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(Text)
    failure_code: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaymentTransition(Base):
    """One change of a payment's state (append-only)."""

    __tablename__ = "payment_transitions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "payment_id"], ["payments.tenant_id", "payments.id"], ondelete="CASCADE"
        ),
        CheckConstraint("cause IN ('request', 'callback', 'query')", name="cause"),
        Index("ix_payment_transitions_payment", "tenant_id", "payment_id", "at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(UUID)
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


__all__ = ["PAYMENT_STATUSES", "Payment", "PaymentTransition"]
