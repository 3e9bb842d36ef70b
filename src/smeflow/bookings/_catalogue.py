"""The catalogue: services, staff (with their weekly hours and breaks) and time off.

Services and staff are never deleted, only made inactive (``active=False``), so every booking
keeps the service and staff member it was made with. Time off is deleted outright. Every change
is audited in the caller's transaction; names are unique per tenant (a :class:`Conflict` on
``name``); a staff member's services must be the tenant's (a 422 on ``service_ids``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.bookings.models import BookingHours, BookingService, BookingStaff, TimeOff
from smeflow.bookings.schemas import (
    HoursIn,
    ServiceIn,
    ServiceUpdate,
    StaffIn,
    StaffOut,
    StaffUpdate,
    TimeOffIn,
)
from smeflow.core import new_id, utcnow
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from smeflow.tenancy import get_tenant

NO_SERVICE = "No such service"
NO_STAFF = "No such staff member"
NO_TIME_OFF = "No such time off"


async def _flush_named(session: AsyncSession, name: str, constraint: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if constraint not in str(exc.orig):
            raise
        raise Conflict(
            f"{name!r} is already taken", fields=[FieldProblem("name", "already taken", "duplicate")]
        ) from exc


def _check_deposit(price: int, deposit: int) -> None:
    if deposit > price:
        message = "the deposit cannot be more than the price"
        raise ValidationFailed(message, fields=[FieldProblem("deposit_minor", message)])


async def create_service(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, data: ServiceIn
) -> BookingService:
    """A new service, priced in the tenant's currency; audited ``booking_service.created``."""
    _check_deposit(data.price_minor, data.deposit_minor)
    tenant = await get_tenant(session, tenant_id)
    now = utcnow()
    row = BookingService(
        tenant_id=tenant_id,
        id=new_id(),
        currency=tenant.currency,
        created_at=now,
        updated_at=now,
        **data.model_dump(),
    )
    session.add(row)
    await _flush_named(session, row.name, "uq_booking_services_tenant_id_name")
    await record(
        session,
        tenant_id,
        actor,
        "booking_service.created",
        "booking_service",
        str(row.id),
        _service_data(row),
    )
    return row


def _service_data(row: BookingService) -> dict[str, Any]:
    return {
        "name": row.name,
        "duration_minutes": row.duration_minutes,
        "price_minor": row.price_minor,
        "deposit_minor": row.deposit_minor,
        "currency": row.currency,
        "buffer_minutes": row.buffer_minutes,
        "cancellation_notice_hours": row.cancellation_notice_hours,
        "keep_deposit_on_late_cancel": row.keep_deposit_on_late_cancel,
        "active": row.active,
    }


async def get_service(session: AsyncSession, tenant_id: uuid.UUID, service_id: uuid.UUID) -> BookingService:
    """The tenant's service, else :class:`NotFound`."""
    row = (
        await session.execute(
            select(BookingService).where(
                BookingService.tenant_id == tenant_id, BookingService.id == service_id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(NO_SERVICE)
    return row


async def list_services(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int,
    after_name: str | None = None,
    active: bool | None = None,
) -> list[BookingService]:
    """The tenant's services by name, from after ``after_name``."""
    query = select(BookingService).where(BookingService.tenant_id == tenant_id)
    if after_name is not None:
        query = query.where(BookingService.name > after_name)
    if active is not None:
        query = query.where(BookingService.active.is_(active))
    return list((await session.execute(query.order_by(BookingService.name).limit(limit))).scalars())


async def update_service(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, service_id: uuid.UUID, data: ServiceUpdate
) -> BookingService:
    """Change a service (bookings already made keep their times and deposit)."""
    row = await get_service(session, tenant_id, service_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "duration_minutes", "price_minor", "deposit_minor", "buffer_minutes"):
        if field in changes and changes[field] is None:
            message = f"{field} cannot be null"
            raise ValidationFailed(message, fields=[FieldProblem(field, message)])
    for key, value in changes.items():
        if value is not None or key == "rebook_after_days":
            setattr(row, key, value)
    _check_deposit(row.price_minor, row.deposit_minor)
    row.updated_at = utcnow()
    await _flush_named(session, row.name, "uq_booking_services_tenant_id_name")
    await record(
        session,
        tenant_id,
        actor,
        "booking_service.updated",
        "booking_service",
        str(row.id),
        _service_data(row),
    )
    return row


async def deactivate_service(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, service_id: uuid.UUID
) -> None:
    """Stop offering a service (it stays for the bookings made with it)."""
    row = await get_service(session, tenant_id, service_id)
    row.active = False
    row.updated_at = utcnow()
    await session.flush()
    await record(session, tenant_id, actor, "booking_service.deactivated", "booking_service", str(row.id), {})


# --- staff ------------------------------------------------------------------------------


async def _check_services(
    session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = set(
        (
            await session.execute(
                select(BookingService.id).where(
                    BookingService.tenant_id == tenant_id, BookingService.id.in_(wanted)
                )
            )
        ).scalars()
    )
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        message = f"no such service: {', '.join(missing)}"
        raise ValidationFailed(message, fields=[FieldProblem("service_ids", message, "unknown_service")])
    return wanted


def _hours_rows(
    tenant_id: uuid.UUID, staff_id: uuid.UUID, kind: str, items: Sequence[HoursIn]
) -> list[BookingHours]:
    field = "hours" if kind == "work" else "breaks"
    rows = []
    for index, item in enumerate(items):
        if item.starts == item.ends:
            message = "an interval must not start and end at the same time"
            raise ValidationFailed(message, fields=[FieldProblem(f"{field}.{index}.ends", message)])
        rows.append(
            BookingHours(
                tenant_id=tenant_id,
                id=new_id(),
                staff_id=staff_id,
                kind=kind,
                weekday=item.weekday,
                starts=item.starts,
                ends=item.ends,
            )
        )
    return rows


async def _replace_hours(
    session: AsyncSession, tenant_id: uuid.UUID, staff_id: uuid.UUID, kind: str, items: Sequence[HoursIn]
) -> None:
    rows = _hours_rows(tenant_id, staff_id, kind, items)
    await session.execute(
        delete(BookingHours).where(
            BookingHours.tenant_id == tenant_id, BookingHours.staff_id == staff_id, BookingHours.kind == kind
        )
    )
    session.add_all(rows)


async def create_staff(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, data: StaffIn
) -> BookingStaff:
    """A new staff member with their services, weekly hours and breaks."""
    services = await _check_services(session, tenant_id, data.service_ids)
    now = utcnow()
    row = BookingStaff(
        tenant_id=tenant_id,
        id=new_id(),
        name=data.name,
        service_ids=services,
        active=data.active,
        created_at=now,
        updated_at=now,
    )
    hours = _hours_rows(tenant_id, row.id, "work", data.hours) + _hours_rows(
        tenant_id, row.id, "break", data.breaks
    )
    session.add(row)
    await _flush_named(session, row.name, "uq_booking_staff_tenant_id_name")
    session.add_all(hours)
    await session.flush()
    await record(
        session,
        tenant_id,
        actor,
        "booking_staff.created",
        "booking_staff",
        str(row.id),
        _staff_data(row, data),
    )
    return row


def _staff_data(row: BookingStaff, data: StaffIn | StaffUpdate) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "name": row.name,
        "service_ids": [str(i) for i in row.service_ids],
        "active": row.active,
    }
    for field in ("hours", "breaks"):
        items = getattr(data, field)
        if items is not None:
            shown[field] = [[i.weekday, i.starts.isoformat(), i.ends.isoformat()] for i in items]
    return shown


async def get_staff(session: AsyncSession, tenant_id: uuid.UUID, staff_id: uuid.UUID) -> BookingStaff:
    """The tenant's staff member, else :class:`NotFound`."""
    row = (
        await session.execute(
            select(BookingStaff).where(BookingStaff.tenant_id == tenant_id, BookingStaff.id == staff_id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(NO_STAFF)
    return row


async def list_staff(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int,
    after_name: str | None = None,
    active: bool | None = None,
) -> list[BookingStaff]:
    """The tenant's staff by name, from after ``after_name``."""
    query = select(BookingStaff).where(BookingStaff.tenant_id == tenant_id)
    if after_name is not None:
        query = query.where(BookingStaff.name > after_name)
    if active is not None:
        query = query.where(BookingStaff.active.is_(active))
    return list((await session.execute(query.order_by(BookingStaff.name).limit(limit))).scalars())


async def update_staff(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, staff_id: uuid.UUID, data: StaffUpdate
) -> BookingStaff:
    """Rename, change services, replace the week's hours or breaks, (de)activate. Bookings already
    made stay, even outside the new hours."""
    row = await get_staff(session, tenant_id, staff_id)
    if data.name is not None:
        row.name = data.name
    if data.service_ids is not None:
        row.service_ids = await _check_services(session, tenant_id, data.service_ids)
    if data.active is not None:
        row.active = data.active
    if data.hours is not None:
        await _replace_hours(session, tenant_id, staff_id, "work", data.hours)
    if data.breaks is not None:
        await _replace_hours(session, tenant_id, staff_id, "break", data.breaks)
    row.updated_at = utcnow()
    await _flush_named(session, row.name, "uq_booking_staff_tenant_id_name")
    await record(
        session,
        tenant_id,
        actor,
        "booking_staff.updated",
        "booking_staff",
        str(row.id),
        _staff_data(row, data),
    )
    return row


async def deactivate_staff(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, staff_id: uuid.UUID
) -> None:
    """Stop taking bookings with a staff member (their bookings stay)."""
    row = await get_staff(session, tenant_id, staff_id)
    row.active = False
    row.updated_at = utcnow()
    await session.flush()
    await record(session, tenant_id, actor, "booking_staff.deactivated", "booking_staff", str(row.id), {})


async def staff_hours(
    session: AsyncSession, tenant_id: uuid.UUID, staff_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[BookingHours]]:
    """The weekly hours and breaks of these staff members, by staff id."""
    found: dict[uuid.UUID, list[BookingHours]] = {i: [] for i in staff_ids}
    if not staff_ids:
        return found
    rows = await session.execute(
        select(BookingHours)
        .where(BookingHours.tenant_id == tenant_id, BookingHours.staff_id.in_(list(staff_ids)))
        .order_by(BookingHours.weekday, BookingHours.starts)
    )
    for row in rows.scalars():
        found[row.staff_id].append(row)
    return found


def staff_out(row: BookingStaff, hours: Sequence[BookingHours]) -> StaffOut:
    """A staff member as the API shows them."""
    return StaffOut(
        id=row.id,
        name=row.name,
        service_ids=list(row.service_ids),
        hours=[HoursIn.model_validate(h) for h in hours if h.kind == "work"],
        breaks=[HoursIn.model_validate(h) for h in hours if h.kind == "break"],
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def names_of(
    session: AsyncSession, tenant_id: uuid.UUID
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """The names of the tenant's services and of its staff, by id (for exports)."""
    services = await session.execute(
        select(BookingService.id, BookingService.name).where(BookingService.tenant_id == tenant_id)
    )
    staff = await session.execute(
        select(BookingStaff.id, BookingStaff.name).where(BookingStaff.tenant_id == tenant_id)
    )
    return {r[0]: r[1] for r in services}, {r[0]: r[1] for r in staff}


# --- time off ---------------------------------------------------------------------------


async def add_time_off(session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, data: TimeOffIn) -> TimeOff:
    """Dates off for one staff member, or (no ``staff_id``) for the whole business."""
    if data.ends_on < data.starts_on:
        message = "the time off ends before it starts"
        raise ValidationFailed(message, fields=[FieldProblem("ends_on", message)])
    if data.staff_id is not None:
        try:
            await get_staff(session, tenant_id, data.staff_id)
        except NotFound:
            raise ValidationFailed(
                NO_STAFF, fields=[FieldProblem("staff_id", NO_STAFF, "unknown_staff")]
            ) from None
    row = TimeOff(tenant_id=tenant_id, id=new_id(), created_at=utcnow(), **data.model_dump())
    session.add(row)
    await session.flush()
    shown = {
        "staff_id": str(row.staff_id) if row.staff_id else None,
        "starts_on": row.starts_on.isoformat(),
        "ends_on": row.ends_on.isoformat(),
    }
    await record(session, tenant_id, actor, "booking_time_off.added", "booking_time_off", str(row.id), shown)
    return row


async def list_time_off(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    staff_id: uuid.UUID | None = None,
    limit: int = 200,
    after: uuid.UUID | None = None,
) -> list[TimeOff]:
    """The tenant's time off (a staff member's, with ``staff_id``, includes the business's)."""
    query = select(TimeOff).where(TimeOff.tenant_id == tenant_id)
    if staff_id is not None:
        query = query.where((TimeOff.staff_id == staff_id) | TimeOff.staff_id.is_(None))
    if after is not None:
        query = query.where(TimeOff.id > after)
    return list((await session.execute(query.order_by(TimeOff.id).limit(limit))).scalars())


async def remove_time_off(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, time_off_id: uuid.UUID
) -> None:
    """Delete time off, else :class:`NotFound`."""
    deleted = await session.execute(
        delete(TimeOff).where(TimeOff.tenant_id == tenant_id, TimeOff.id == time_off_id).returning(TimeOff.id)
    )
    if deleted.scalar_one_or_none() is None:
        raise NotFound(NO_TIME_OFF)
    await record(
        session, tenant_id, actor, "booking_time_off.removed", "booking_time_off", str(time_off_id), {}
    )


__all__ = [
    "NO_SERVICE",
    "NO_STAFF",
    "NO_TIME_OFF",
    "add_time_off",
    "create_service",
    "create_staff",
    "deactivate_service",
    "deactivate_staff",
    "get_service",
    "get_staff",
    "list_services",
    "list_staff",
    "list_time_off",
    "names_of",
    "remove_time_off",
    "staff_hours",
    "staff_out",
    "update_service",
    "update_staff",
]
