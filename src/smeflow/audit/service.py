"""Writing, reading and verifying the audit log. Records are written in the caller's
transaction, never committed here, so a change and its record commit (or roll back) together.

Concurrent writers of one tenant serialize on the tenant's ``audit_heads`` row (an UPDATE takes
its row lock until commit), so the chain can never fork; writers of different tenants never wait
for each other.

Verification streams a tenant's events in seq order, in batches, through the pure fold of
:mod:`smeflow.audit._chain`, and finally compares the chain's end with the ``audit_heads`` row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit._chain import GENESIS, ChainState, chain_hash, check_head, check_links, event_fields
from smeflow.audit.models import AuditEvent, AuditHead
from smeflow.core import new_id, utcnow
from smeflow.core.context import request_id_var

ActorType = Literal["user", "api_key", "system", "workflow_run", "operator"]

_ADVANCE_HEAD = text(
    "INSERT INTO audit_heads AS h (tenant_id, seq, hash) VALUES (:tenant, 1, :genesis) "
    "ON CONFLICT (tenant_id) DO UPDATE SET seq = h.seq + 1 "
    "RETURNING seq, hash"
)
# One statement, so one snapshot: the head and the newest event are seen as of the same moment.
_CHAIN_END = text(
    "SELECT smeflow_tenant(),"
    " (SELECT seq FROM audit_heads WHERE tenant_id = :tenant),"
    " (SELECT hash FROM audit_heads WHERE tenant_id = :tenant),"
    " (SELECT max(seq) FROM audit_events WHERE tenant_id = :tenant)"
)
_EVENTS = AuditEvent.__table__


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
    event_id = new_id()
    rid = request_id if request_id is not None else request_id_var.get()
    # On a first event the INSERT returns (1, GENESIS); later ones return the new seq and the
    # previous event's hash (the UPDATE does not touch ``hash``).
    seq, prev_hash = (await session.execute(_ADVANCE_HEAD, {"tenant": tenant_id, "genesis": GENESIS})).one()
    # Read the clock only once the head's row lock is held, so occurred_at never goes backwards
    # along the chain (a writer may wait for that lock until the previous writer commits).
    occurred_at = utcnow()
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
    # The event and the head's new hash in one statement (the head row is already locked).
    head = update(AuditHead).where(AuditHead.tenant_id == tenant_id).values(hash=digest).cte("head")
    values = {column.key: getattr(event, column.key) for column in _EVENTS.columns}
    await session.execute(insert(AuditEvent).values(values).add_cte(head))
    return event


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :func:`verify_chain`.

    ``events_checked`` counts the events read, including the one where a break was found;
    ``broken_seq`` and ``reason`` name the first broken link (``None`` when ``ok``).
    """

    tenant_id: uuid.UUID
    ok: bool
    events_checked: int
    broken_seq: int | None
    reason: str | None


async def verify_chain(session: AsyncSession, tenant_id: uuid.UUID, *, batch_size: int = 1000) -> ChainReport:
    """Recompute ``tenant_id``'s hash chain and report its first broken link, if any.

    The session must be bound to ``tenant_id`` (row-level security would otherwise hide the
    events, and an invisible chain must not pass as an intact one). Events are streamed by seq
    in batches of ``batch_size``. Events committed after verification starts are not checked.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    bound, head_seq, head_hash, last_seq = (await session.execute(_CHAIN_END, {"tenant": tenant_id})).one()
    if bound != tenant_id:
        bound_to = f"tenant {bound}" if bound is not None else "no tenant"
        raise ValueError(f"cannot verify tenant {tenant_id}'s chain: the session is bound to {bound_to}")
    end = max(head_seq or 0, last_seq or 0)
    state = ChainState()
    while state.seq < end:
        query = (
            select(*_EVENTS.c)
            .where(_EVENTS.c.tenant_id == tenant_id, _EVENTS.c.seq > state.seq, _EVENTS.c.seq <= end)
            .order_by(_EVENTS.c.seq)
            .limit(batch_size)
        )
        rows = [row._asdict() for row in await session.execute(query)]
        if not rows:
            break
        state, broken = check_links(rows, state)
        if broken is not None:
            return ChainReport(tenant_id, False, state.checked, broken.seq, broken.reason)
    broken = check_head(state, head_seq, head_hash)
    if broken is not None:
        return ChainReport(tenant_id, False, state.checked, broken.seq, broken.reason)
    return ChainReport(tenant_id, True, state.checked, None, None)


async def list_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int,
    before_seq: int | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> list[AuditEvent]:
    """``tenant_id``'s events, newest first; pass the last seq seen as ``before_seq`` for the next page."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if target_type is not None:
        query = query.where(AuditEvent.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == target_id)
    query = query.order_by(AuditEvent.seq.desc()).limit(limit)
    return list((await session.scalars(query)).all())


__all__ = ["Actor", "ActorType", "ChainReport", "list_events", "record", "verify_chain"]
