"""The conversation tables.

Key contracts: every table leads its primary key with ``tenant_id`` under forced row-level
security (migration ``0016_channels``).

* ``conversation_workflows``: which published workflow answers a channel of the tenant (one row
  per tenant + channel); a conversation with no such row stores its messages and starts nothing.
* ``conversations``: one per tenant + channel + integration + customer address (an E.164 phone,
  or a web visitor id; web chat has no integration). ``mode`` is ``bot`` (messages go to the
  workflow) or ``human`` (a staff member, ``assigned_user_id``, has taken over: they do not);
  ``run_id`` is the run the conversation's messages go to; ``last_inbound_at`` opens WhatsApp's
  24-hour window.
* ``conversation_messages``: in and out, in order of ``id`` (UUIDv7); ``provider_message_id`` is
  unique per conversation, so a delivery repeated by the provider is stored once.
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
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import new_id, utcnow
from smeflow.db import Base

CHANNELS = ("whatsapp", "sms", "web")
MODES = ("bot", "human")


class ConversationWorkflow(Base):
    """The workflow a tenant's conversations on one channel run."""

    __tablename__ = "conversation_workflows"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "workflow_id"], ["workflows.tenant_id", "workflows.id"], ondelete="CASCADE"
        ),
        CheckConstraint("channel IN ('whatsapp', 'sms', 'web')", name="channel"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(UUID)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Conversation(Base):
    """A customer talking with a tenant on one channel (see the module docstring)."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "channel",
            "integration_id",
            "address",
            name="uq_conversations_address",
            postgresql_nulls_not_distinct=True,
        ),
        ForeignKeyConstraint(
            ["tenant_id", "integration_id"],
            ["integrations.tenant_id", "integrations.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("channel IN ('whatsapp', 'sms', 'web')", name="channel"),
        CheckConstraint("mode IN ('bot', 'human')", name="mode"),
        CheckConstraint("(channel = 'web') = (integration_id IS NULL)", name="integration"),
        Index("ix_conversations_recent", "tenant_id", "updated_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(Text)
    integration_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    address: Mapped[str] = mapped_column(Text)
    customer_name: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(Text, default="bot")
    assigned_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    workflow_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConversationMessage(Base):
    """One message of a conversation, in (from the customer) or out (from the bot or staff)."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "conversation_id", "provider_message_id", name="uq_conversation_messages_provider_id"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "conversation_id"],
            ["conversations.tenant_id", "conversations.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        Index("ix_conversation_messages_conversation", "tenant_id", "conversation_id", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID)
    direction: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    #: who sent an outgoing message: ``run:<id>`` or ``user:<id>``; None for incoming ones
    sent_by: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


__all__ = ["CHANNELS", "MODES", "Conversation", "ConversationMessage", "ConversationWorkflow"]
