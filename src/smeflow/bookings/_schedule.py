"""Reading a tenant's schedule from the database for :mod:`._availability`: who offers a
service, their weekly hours and breaks, time off, and the bookings that hold slots.

Availability is read in the tenant's time zone (``tenants.timezone``). It is advice, not a
promise: two customers may see the same free slot; the exclusion constraint on ``bookings``
decides which of them gets it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.bookings._availability import DateRange, Interval, Slot, StaffWeek, WeeklyInterval, slots
from smeflow.bookings._catalogue import get_service, staff_hours
from smeflow.bookings.models import HOLDING, Booking, BookingService, BookingStaff, TimeOff
from smeflow.core import utcnow
from smeflow.tenancy import get_tenant

#: the default distance between offered start times
DEFAULT_STEP = timedelta(minutes=15)
#: the longest range of days one availability question may cover
MAX_DAYS = 31


async def zone_of(session: AsyncSession, tenant_id: uuid.UUID) -> ZoneInfo:
    """The tenant's time zone."""
    return ZoneInfo((await get_tenant(session, tenant_id)).timezone)


async def offering(
    session: AsyncSession, tenant_id: uuid.UUID, service_id: uuid.UUID, staff_id: uuid.UUID | None = None
) -> list[BookingStaff]:
    """The active staff who offer the service (only ``staff_id``, if given), by name."""
    query = select(BookingStaff).where(
        BookingStaff.tenant_id == tenant_id,
        BookingStaff.active.is_(True),
        BookingStaff.service_ids.contains([service_id]),
    )
    if staff_id is not None:
        query = query.where(BookingStaff.id == staff_id)
    return list((await session.execute(query.order_by(BookingStaff.name))).scalars())


async def staff_weeks(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    staff: Sequence[BookingStaff],
    first: date,
    last: date,
    zone: ZoneInfo,
    *,
    ignore: uuid.UUID | None = None,
) -> list[StaffWeek]:
    """Each staff member's schedule around local dates ``first`` … ``last`` (busy intervals of
    holding bookings, except the booking ``ignore``, which is being moved)."""
    ids = [s.id for s in staff]
    hours = await staff_hours(session, tenant_id, ids)
    off_rows = (
        await session.execute(
            select(TimeOff).where(
                TimeOff.tenant_id == tenant_id,
                TimeOff.staff_id.is_(None) | TimeOff.staff_id.in_(ids),
                TimeOff.starts_on <= last + timedelta(days=1),
                TimeOff.ends_on >= first - timedelta(days=1),
            )
        )
    ).scalars()
    offs = list(off_rows)
    # generous bounds: a shift may begin the day before ``first`` and end the day after ``last``
    lower = datetime.combine(first - timedelta(days=2), datetime.min.time(), tzinfo=zone)
    upper = datetime.combine(last + timedelta(days=3), datetime.min.time(), tzinfo=zone)
    query = select(Booking.staff_id, Booking.start_at, Booking.blocked_until).where(
        Booking.tenant_id == tenant_id,
        Booking.staff_id.in_(ids),
        Booking.status.in_(HOLDING),
        Booking.start_at < upper,
        Booking.blocked_until > lower,
    )
    if ignore is not None:
        query = query.where(Booking.id != ignore)
    busy: dict[uuid.UUID, list[Interval]] = {i: [] for i in ids}
    for staff_id, start, until in await session.execute(query):
        busy[staff_id].append((start, until))
    weeks = []
    for member in staff:
        own = hours[member.id]
        weeks.append(
            StaffWeek(
                staff_id=member.id,
                hours=[WeeklyInterval(h.weekday, h.starts, h.ends) for h in own if h.kind == "work"],
                breaks=[WeeklyInterval(h.weekday, h.starts, h.ends) for h in own if h.kind == "break"],
                time_off=[DateRange(o.starts_on, o.ends_on) for o in offs if o.staff_id in (None, member.id)],
                busy=busy[member.id],
            )
        )
    return weeks


async def available_slots(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    service_id: uuid.UUID,
    *,
    first: date,
    days: int = 1,
    staff_id: uuid.UUID | None = None,
    step: timedelta = DEFAULT_STEP,
    now: datetime | None = None,
) -> list[Slot]:
    """The free slots for a service on ``days`` local dates from ``first``, with one staff member
    or any who offers it, every ``step``, in time order (then by staff). Past slots, breaks,
    time off and holding bookings with their buffers are left out. An inactive service has none."""
    service = await get_service(session, tenant_id, service_id)
    if not service.active:
        return []
    zone = await zone_of(session, tenant_id)
    last = first + timedelta(days=max(days, 1) - 1)
    staff = await offering(session, tenant_id, service_id, staff_id)
    found: list[Slot] = []
    for week in await staff_weeks(session, tenant_id, staff, first, last, zone):
        found.extend(
            slots(
                week,
                first=first,
                last=last,
                zone=zone,
                duration=timedelta(minutes=service.duration_minutes),
                buffer=timedelta(minutes=service.buffer_minutes),
                step=step,
                now=now or utcnow(),
            )
        )
    order = {s.id: i for i, s in enumerate(staff)}
    return sorted(found, key=lambda s: (s.start_at, order[s.staff_id]))


def span(service: BookingService) -> tuple[timedelta, timedelta]:
    """A service's duration and buffer."""
    return timedelta(minutes=service.duration_minutes), timedelta(minutes=service.buffer_minutes)


__all__ = ["DEFAULT_STEP", "MAX_DAYS", "available_slots", "offering", "span", "staff_weeks", "zone_of"]
