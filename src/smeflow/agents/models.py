"""The agents tables (migration ``0014_agents``), each leading its primary key with ``tenant_id``
under forced row-level security.

* ``agents``: a tenant's agents (name unique per tenant, type, config as JSON, status).
* ``llm_calls``: the cost ledger, one row per answer a model gave or the cache gave instead
  (``source``); append-only for the app role. Cost in millionths of a US dollar and in the
  tenant's currency (minor units).
* ``llm_budgets``: per tenant and calendar month (UTC), what was spent and the limit then in force,
  with when the warning and the switch to offline understanding happened (each once).
* ``llm_cache``: model answers a tenant may reuse: by exact key, or by the similarity of the
  question's embedding within the same scope (model, instructions, tools) and language.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Index, Integer, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import new_id, utcnow
from smeflow.db import Base

AGENT_TYPES = ("automator", "mentor", "supervisor")
EMBEDDING_DIMENSIONS = 384


class Agent(Base):
    """An agent of a tenant."""

    __tablename__ = "agents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("type IN ('automator', 'mentor', 'supervisor')", name="type"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, default="active")
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LlmCall(Base):
    """One answer a model (or the cache) gave, and what it cost."""

    __tablename__ = "llm_calls"
    __table_args__ = (
        CheckConstraint("source IN ('model', 'cache_exact', 'cache_semantic')", name="source"),
        CheckConstraint("input_tokens >= 0 AND output_tokens >= 0 AND cached_tokens >= 0", name="tokens"),
        CheckConstraint("cost_micros >= 0 AND cost_minor >= 0", name="cost"),
        Index("ix_llm_calls_tenant_at", "tenant_id", "at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    node_id: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    agent_name: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cached_tokens: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    cost_micros: Mapped[int] = mapped_column(BigInteger)
    cost_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)


class LlmBudget(Base):
    """A tenant's language-model spend in one calendar month."""

    __tablename__ = "llm_budgets"
    __table_args__ = (CheckConstraint("spent_micros >= 0", name="spent"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    spent_micros: Mapped[int] = mapped_column(BigInteger)
    limit_micros: Mapped[int] = mapped_column(BigInteger)
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exhausted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LlmCacheEntry(Base):
    """A model answer a tenant may reuse until ``expires_at``."""

    __tablename__ = "llm_cache"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key_hash"),
        Index("ix_llm_cache_scope", "tenant_id", "scope_hash", "language", "expires_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    key_hash: Mapped[str] = mapped_column(Text)
    scope_hash: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIMENSIONS), nullable=True)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


__all__ = ["AGENT_TYPES", "EMBEDDING_DIMENSIONS", "Agent", "LlmBudget", "LlmCacheEntry", "LlmCall"]
