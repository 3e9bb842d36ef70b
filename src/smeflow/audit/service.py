"""Writing the audit log. Records are flushed in the caller's transaction, never committed here,
so a change and its record commit (or roll back) together.

Concurrent writers of one tenant serialize on the tenant's ``audit_heads`` row (an UPDATE takes
its row lock until commit), so the chain can never fork; writers of different tenants never wait
for each other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit._chain import GENESIS, chain_hash, event_fields
from smeflow.audit.models import AuditEvent
from smeflow.core import new_id, utcnow
from smeflow.core.context import request_id_var

ActorType = Literal["user", "api_key", "system", "workflow_run", "operator"]

_ADVANCE_HEAD = text(
    "INSERT INTO audit_heads AS h (tenant_id, seq, hash) VALUES (:tenant, 1, :genesis) "
    "ON CONFLICT (tenant_id) DO UPDATE SET seq = h.seq + 1 "
    "RETURNING seq, hash"
)
_SET_HEAD_HASH = text("UPDATE audit_heads SET hash = :hash WHERE tenant_id = :tenant")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a user, an API key, the system itself, a workflow run, a platform operator."""

    type: ActorType
    id: str

    @classmethod
    def system(cls, name: str = "smeflow") -> Actor:
        return cls("system", name)


async def record(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str,
    data: dict[str, Any] | None = None,
    *,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to ``tenant_id``'s chain in the session's transaction.

    ``data`` must be canonical JSON (no floats: see :mod:`smeflow.core.canonical`).
    """
    payload = dict(data or {})
    occurred_at = utcnow()
    event_id = new_id()
    rid = request_id if request_id is not None else request_id_var.get()
    # On a first event the INSERT returns (1, GENESIS); later ones return the new seq and the
    # previous event's hash (the UPDATE does not touch ``hash``).
    seq, prev_hash = (await session.execute(_ADVANCE_HEAD, {"tenant": tenant_id, "genesis": GENESIS})).one()
    fields = event_fields(
        tenant_id=tenant_id,
        seq=seq,
        event_id=event_id,
        occurred_at=occurred_at,
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        data=payload,
        request_id=rid,
    )
    digest = chain_hash(fields, prev_hash)
    event = AuditEvent(
        tenant_id=tenant_id,
        seq=seq,
        id=event_id,
        occurred_at=occurred_at,
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        data=payload,
        request_id=rid,
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(event)
    await session.execute(_SET_HEAD_HASH, {"hash": digest, "tenant": tenant_id})
    await session.flush()
    return event


__all__ = ["Actor", "ActorType", "record"]
