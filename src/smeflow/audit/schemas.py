"""Audit data out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from smeflow.audit.service import ActorType


class AuditEventOut(BaseModel):
    """One recorded event, with the two hashes that link it into its tenant's chain."""

    model_config = ConfigDict(from_attributes=True)

    tenant_id: uuid.UUID
    seq: int
    id: uuid.UUID
    occurred_at: datetime
    actor_type: ActorType
    actor_id: str
    action: str
    target_type: str
    target_id: str
    data: dict[str, Any]
    request_id: str | None
    prev_hash: str
    hash: str


class ChainReportOut(BaseModel):
    """The outcome of verifying a tenant's chain; ``broken_seq`` and ``reason`` name the first break."""

    model_config = ConfigDict(from_attributes=True)

    tenant_id: uuid.UUID
    ok: bool
    events_checked: int
    broken_seq: int | None
    reason: str | None


__all__ = ["AuditEventOut", "ChainReportOut"]
