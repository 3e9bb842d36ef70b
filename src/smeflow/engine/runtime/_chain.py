"""Appending to a tenant's audit chain on a bare psycopg connection (:meth:`Database.pipeline`),
for the runtime's hot paths: the same chain, the same rules as :func:`smeflow.audit.record`, for
one event or several at once.

The head is advanced first, by the number of events (``audit_heads``: its row lock is held until
commit, so the chain never forks), in the caller's own statement (:func:`advance_head_sql`, so
it advances only if the caller's change happened); the clock is read only then (``occurred_at``
never goes backwards along the chain); each hash is :func:`smeflow.audit.chain_hash` of
:func:`smeflow.audit.event_fields`, linked to the one before; the events and the head's new hash
are written in one statement (:func:`append_events`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg import AsyncConnection

from smeflow.audit import GENESIS, Actor, chain_hash, event_fields
from smeflow.core import new_id, utcnow

_APPEND = """
WITH head AS (UPDATE audit_heads SET hash = %(hash)s WHERE tenant_id = %(tenant)s)
INSERT INTO audit_events (tenant_id, seq, id, occurred_at, actor_type, actor_id, action,
                          target_type, target_id, data, request_id, prev_hash, hash)
SELECT %(tenant)s, a.seq, a.id, a.occurred_at, a.actor_type, a.actor_id, a.action, a.target_type,
       a.target_id, a.data, a.request_id, a.prev_hash, a.hash
  FROM jsonb_to_recordset(%(events)s::jsonb) AS a(seq bigint, id uuid, occurred_at timestamptz,
       actor_type text, actor_id text, action text, target_type text, target_id text, data jsonb,
       request_id text, prev_hash text, hash text)
"""


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One audit event to append. ``data`` must be canonical JSON (no floats)."""

    actor: Actor
    action: str
    target_type: str
    target_id: str
    data: dict[str, Any]
    request_id: str | None = None


def advance_head_sql(count: str, source: str) -> str:
    """A data-modifying clause (for a ``WITH``) that advances the tenant's head by ``count`` (a SQL
    expression; rows of ``source`` must exist, else the head is left alone); it returns ``(seq,
    hash)``: the head's new seq (the last event's) and the hash of the event before the first.
    Parameters: ``tenant`` and ``genesis`` (:func:`head_parameters`)."""
    return (
        f"INSERT INTO audit_heads AS h (tenant_id, seq, hash) SELECT %(tenant)s, {count}, %(genesis)s"
        f" WHERE EXISTS (SELECT 1 FROM {source})"
        " ON CONFLICT (tenant_id) DO UPDATE SET seq = h.seq + EXCLUDED.seq RETURNING seq, hash"
    )


def head_parameters(tenant_id: uuid.UUID) -> dict[str, Any]:
    """The parameters :func:`advance_head_sql` needs."""
    return {"tenant": tenant_id, "genesis": GENESIS}


async def append_events(
    conn: AsyncConnection[Any], tenant_id: uuid.UUID, head: tuple[int, str], events: list[ChainEvent]
) -> None:
    """Write ``events`` as the last ones of the chain whose head was just advanced to ``head`` (its
    new seq, the hash before the first of them), in the connection's transaction."""
    last_seq, prev_hash = head
    rows = []
    for offset, event in enumerate(events):
        seq = last_seq - len(events) + 1 + offset
        event_id = new_id()
        occurred_at = utcnow()  # the head's row lock is held: the clock never goes backwards
        fields = event_fields(
            tenant_id=tenant_id,
            seq=seq,
            event_id=event_id,
            occurred_at=occurred_at,
            actor_type=event.actor.type,
            actor_id=event.actor.id,
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            data=event.data,
            request_id=event.request_id,
        )
        digest = chain_hash(fields, prev_hash)
        rows.append(
            {
                "seq": seq,
                "id": str(event_id),
                "occurred_at": occurred_at.isoformat(timespec="microseconds"),
                "actor_type": event.actor.type,
                "actor_id": event.actor.id,
                "action": event.action,
                "target_type": event.target_type,
                "target_id": event.target_id,
                "data": event.data,
                "request_id": event.request_id,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    params = {"tenant": tenant_id, "hash": prev_hash, "events": orjson.dumps(rows).decode()}
    await conn.execute(_APPEND, params)


__all__ = ["ChainEvent", "advance_head_sql", "append_events", "head_parameters"]
