"""Reminders and follow-ups as rows the workers act on: a reminder 24 h and 2 h before a
confirmed booking (skipped when already past), and an invitation to rebook ``rebook_after_days``
after a completed one.

Key contracts: reminders are recomputed (:func:`plan_visit_reminders`) whenever a booking is
confirmed or moved, and dropped when it is cancelled, expires or is missed; :func:`due_reminders`
claims due reminders across tenants (the ``platform`` scope) with ``FOR UPDATE SKIP LOCKED``,
marking them sent in the same statement, so two workers never claim one reminder.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.bookings.models import Booking, BookingReminder, BookingService
from smeflow.core import new_id, utcnow
from smeflow.db import Database, DbScope

#: how long before a booking each reminder is due
BEFORE = {"reminder_24h": timedelta(hours=24), "reminder_2h": timedelta(hours=2)}

_CLAIM = text(
    """WITH due AS (
        SELECT tenant_id, id FROM booking_reminders
        WHERE sent_at IS NULL AND due_at <= :now
        ORDER BY due_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE booking_reminders AS r SET sent_at = :now
    FROM due WHERE r.tenant_id = due.tenant_id AND r.id = due.id
    RETURNING r.tenant_id, r.id, r.booking_id, r.kind, r.due_at"""
)


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A reminder a worker has claimed and should now send."""

    tenant_id: uuid.UUID
    reminder_id: uuid.UUID
    booking_id: uuid.UUID
    kind: str
    due_at: datetime


async def drop_reminders(session: AsyncSession, booking: Booking, *, visit_only: bool = False) -> None:
    """Remove a booking's reminders (only those before the visit, with ``visit_only``)."""
    query = delete(BookingReminder).where(
        BookingReminder.tenant_id == booking.tenant_id, BookingReminder.booking_id == booking.id
    )
    if visit_only:
        query = query.where(BookingReminder.kind.in_(list(BEFORE)))
    await session.execute(query)


async def plan_visit_reminders(
    session: AsyncSession, booking: Booking, now: datetime
) -> list[BookingReminder]:
    """(Re)create the reminders before a confirmed booking, skipping those already past."""
    await drop_reminders(session, booking, visit_only=True)
    rows = [
        BookingReminder(
            tenant_id=booking.tenant_id,
            id=new_id(),
            booking_id=booking.id,
            kind=kind,
            due_at=booking.start_at - ahead,
        )
        for kind, ahead in BEFORE.items()
        if booking.start_at - ahead > now
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def plan_rebook(
    session: AsyncSession, booking: Booking, service: BookingService
) -> BookingReminder | None:
    """The invitation to rebook after a completed booking, if the service asks for one."""
    await drop_reminders(session, booking, visit_only=True)
    if service.rebook_after_days is None:
        await session.flush()
        return None
    row = BookingReminder(
        tenant_id=booking.tenant_id,
        id=new_id(),
        booking_id=booking.id,
        kind="rebook",
        due_at=booking.end_at + timedelta(days=service.rebook_after_days),
    )
    session.add(row)
    await session.flush()
    return row


async def reminders_of(
    session: AsyncSession, tenant_id: uuid.UUID, booking_id: uuid.UUID
) -> list[BookingReminder]:
    """A booking's reminders, soonest first."""
    rows = await session.execute(
        select(BookingReminder)
        .where(BookingReminder.tenant_id == tenant_id, BookingReminder.booking_id == booking_id)
        .order_by(BookingReminder.due_at)
    )
    return list(rows.scalars())


async def due_reminders(db: Database, now: datetime | None = None, limit: int = 100) -> list[DueReminder]:
    """Claim up to ``limit`` reminders due by ``now``, of every tenant, marking them sent; for a
    worker to send (a reminder claimed here is never returned again)."""
    at = now or utcnow()
    async with db.transaction(DbScope.platform()) as session:
        rows = await session.execute(_CLAIM, {"now": at, "limit": limit})
        return [DueReminder(r.tenant_id, r.id, r.booking_id, r.kind, r.due_at) for r in rows]


__all__ = [
    "BEFORE",
    "DueReminder",
    "drop_reminders",
    "due_reminders",
    "plan_rebook",
    "plan_visit_reminders",
    "reminders_of",
]
