"""The hash chain: pure functions, no I/O.

``hash = SHA-256(canonical_json(fields) || prev_hash)`` as lowercase hex, where ``fields`` is
every column of the event except the two hashes. The first event of a tenant links to
:data:`GENESIS`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from smeflow.core import canonical_json

GENESIS = "0" * 64


def event_fields(
    *,
    tenant_id: uuid.UUID,
    seq: int,
    event_id: uuid.UUID,
    occurred_at: datetime,
    actor_type: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str,
    data: dict[str, Any],
    request_id: str | None,
) -> dict[str, Any]:
    """The hashed content of one event, in the canonical form."""
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    return {
        "tenant_id": str(tenant_id),
        "seq": seq,
        "id": str(event_id),
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "data": data,
        "request_id": request_id,
    }


def chain_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """The hash of an event given its fields and the previous event's hash."""
    digest = hashlib.sha256(canonical_json(fields))
    digest.update(prev_hash.encode("ascii"))
    return digest.hexdigest()


__all__ = ["GENESIS", "chain_hash", "event_fields"]
