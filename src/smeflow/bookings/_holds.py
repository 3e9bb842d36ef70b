"""Expiring holds: a ``pending_payment`` booking whose ``expires_at`` has passed becomes
``expired``, which takes it out of the exclusion constraint and so frees its slot.

Key contracts: :func:`expire_holds` is for workers, across tenants: it finds lapsed holds in the
``platform`` scope (its RLS policy shows it holds and nothing else of ``bookings``), then expires
each tenant's in a transaction of that tenant, with their audit records. A hold locked by a
transaction confirming it is skipped (``FOR UPDATE SKIP LOCKED``), never expired under it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text

from smeflow.audit import Actor, record
from smeflow.bookings.models import Booking
from smeflow.core import utcnow
from smeflow.db import Database, DbScope

#: who the audit log says expired a hold
EXPIRER = Actor.system("bookings")

_EXPIRE = text(
    """UPDATE bookings SET status = 'expired', updated_at = :now
    WHERE (tenant_id, id) IN (
        SELECT tenant_id, id FROM bookings
        WHERE tenant_id = :tenant AND id = ANY(:ids) AND status = 'pending_payment' AND expires_at <= :now
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, service_id, staff_id, start_at"""
)


@dataclass(frozen=True, slots=True)
class ExpiredHold:
    """A hold :func:`expire_holds` expired."""

    tenant_id: uuid.UUID
    booking_id: uuid.UUID


async def expire_holds(db: Database, now: datetime | None = None, limit: int = 500) -> list[ExpiredHold]:
    """Mark up to ``limit`` holds of every tenant that lapsed by ``now`` ``expired`` (freeing
    their slots) and say which; for workers to call periodically."""
    at = now or utcnow()
    async with db.transaction(DbScope.platform()) as session:
        rows = await session.execute(
            select(Booking.tenant_id, Booking.id)
            .where(Booking.status == "pending_payment", Booking.expires_at <= at)
            .order_by(Booking.expires_at)
            .limit(limit)
        )
        by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
        for tenant_id, booking_id in rows:
            by_tenant.setdefault(tenant_id, []).append(booking_id)
    expired: list[ExpiredHold] = []
    for tenant_id, ids in by_tenant.items():
        async with db.transaction(DbScope.tenant(tenant_id)) as session:
            done = await session.execute(_EXPIRE, {"tenant": tenant_id, "ids": ids, "now": at})
            for row in done.all():
                data = {
                    "service_id": str(row.service_id),
                    "staff_id": str(row.staff_id),
                    "start_at": row.start_at.isoformat(),
                    "status": "expired",
                    "previous": "pending_payment",
                }
                await record(session, tenant_id, EXPIRER, "booking.expired", "booking", str(row.id), data)
                expired.append(ExpiredHold(tenant_id, row.id))
    return expired


__all__ = ["EXPIRER", "ExpiredHold", "expire_holds"]
