"""Appending to a tenant's audit chain on a bare psycopg connection (:meth:`Database.pipeline`),
for the runtime's hot paths: the same chain, the same rules as :func:`smeflow.audit.record`.

The head is advanced first (``audit_heads``: its row lock is held until commit, so the chain
never forks), the clock is read only then (``occurred_at`` never goes backwards along the chain),
the hash is :func:`smeflow.audit.chain_hash` of :func:`smeflow.audit.event_fields`, and the event
and the head's new hash are written in one statement. A caller that needs the head advanced only
if its own change happened does that in its own statement (:data:`ADVANCE_HEAD_SQL` is the
clause to reuse) and passes the returned ``seq`` and ``hash`` to :func:`append_event`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from psycopg import AsyncConnection

from smeflow.audit import GENESIS, Actor, chain_hash, event_fields
from smeflow.core import new_id, utcnow
from smeflow.core.context import request_id_var

#: advance the tenant's head (rows of ``source``: one to advance it, none to leave it alone);
#: returns ``(seq, hash)``: the new seq and the previous event's hash
ADVANCE_HEAD_SQL = (
    "INSERT INTO audit_heads AS h (tenant_id, seq, hash) SELECT %(tenant)s, 1, %(genesis)s FROM {source}"
    " ON CONFLICT (tenant_id) DO UPDATE SET seq = h.seq + 1 RETURNING seq, hash"
)

_APPEND = """
WITH head AS (UPDATE audit_heads SET hash = %(hash)s WHERE tenant_id = %(tenant)s)
INSERT INTO audit_events (tenant_id, seq, id, occurred_at, actor_type, actor_id, action,
                          target_type, target_id, data, request_id, prev_hash, hash)
VALUES (%(tenant)s, %(seq)s, %(id)s, %(at)s, %(actor_type)s, %(actor_id)s, %(action)s,
        %(target_type)s, %(target_id)s, %(data)s::jsonb, %(request_id)s, %(prev_hash)s, %(hash)s)
"""


def head_parameters(tenant_id: uuid.UUID) -> dict[str, Any]:
    """The parameters :data:`ADVANCE_HEAD_SQL` needs."""
    return {"tenant": tenant_id, "genesis": GENESIS}


async def append_event(
    conn: AsyncConnection[Any],
    tenant_id: uuid.UUID,
    head: tuple[int, str],
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str,
    data: dict[str, Any],
) -> None:
    """Write the event of the advanced ``head`` (its new seq, the previous event's hash) in the
    connection's transaction. ``data`` must be canonical JSON (no floats)."""
    seq, prev_hash = head
    event_id = new_id()
    rid = request_id_var.get()
    occurred_at = utcnow()  # the head's row lock is held: the clock never goes backwards
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
        data=data,
        request_id=rid,
    )
    await conn.execute(
        _APPEND,
        {
            "tenant": tenant_id,
            "seq": seq,
            "id": event_id,
            "at": occurred_at,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "data": orjson.dumps(data).decode(),
            "request_id": rid,
            "prev_hash": prev_hash,
            "hash": chain_hash(fields, prev_hash),
        },
    )


__all__ = ["ADVANCE_HEAD_SQL", "append_event", "head_parameters"]
