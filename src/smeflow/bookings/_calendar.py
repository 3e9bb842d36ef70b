"""The calendar view: bookings grouped by local day, then by staff member."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.bookings.models import Booking, BookingStaff
from smeflow.bookings.service import list_bookings

#: the statuses a calendar shows (cancelled and expired bookings hold no time)
SHOWN = ("pending_payment", "confirmed", "completed", "no_show")
#: the most bookings one calendar holds
MOST = 10_000


@dataclass(frozen=True, slots=True)
class StaffSheet:
    staff: BookingStaff
    bookings: list[Booking]


@dataclass(frozen=True, slots=True)
class DaySheet:
    day: date
    staff: list[StaffSheet]


def local_bounds(zone: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """The instants at which local ``first`` begins and the day after ``last`` begins."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    return start, datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)


async def calendar(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    zone: ZoneInfo,
    first: date,
    last: date,
    *,
    staff_id: uuid.UUID | None = None,
) -> list[DaySheet]:
    """Every local day from ``first`` to ``last``, each with every staff member (active ones, and
    inactive ones who have bookings then; only ``staff_id``, if given) and their bookings that day."""
    start, end = local_bounds(zone, first, last)
    rows = await list_bookings(
        session,
        tenant_id,
        limit=MOST,
        starts_from=start,
        starts_before=end,
        staff_id=staff_id,
        statuses=SHOWN,
    )
    query = select(BookingStaff).where(BookingStaff.tenant_id == tenant_id)
    if staff_id is not None:
        query = query.where(BookingStaff.id == staff_id)
    staff = list((await session.execute(query.order_by(BookingStaff.name))).scalars())
    shown = [s for s in staff if s.active or any(r.staff_id == s.id for r in rows)]
    return [
        DaySheet(
            first + timedelta(days=offset),
            [StaffSheet(s, _on(rows, s.id, first + timedelta(days=offset), zone)) for s in shown],
        )
        for offset in range((last - first).days + 1)
    ]


def _on(rows: Sequence[Booking], staff_id: uuid.UUID, day: date, zone: ZoneInfo) -> list[Booking]:
    return [r for r in rows if r.staff_id == staff_id and r.start_at.astimezone(zone).date() == day]


__all__ = ["MOST", "SHOWN", "DaySheet", "StaffSheet", "calendar", "local_bounds"]
