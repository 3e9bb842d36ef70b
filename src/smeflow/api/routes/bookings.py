"""Bookings: the catalogue (services, staff with their weekly hours and breaks, time off),
availability, bookings, a calendar view and CSV / iCalendar exports.

Reading needs ``bookings:read`` (viewers and up); booking, confirming, completing, moving and
cancelling need ``bookings:write`` (staff and up); changing the catalogue needs
``bookings:manage`` (admins and owners). Money is integer minor units plus the currency (the
tenant's); instants are UTC with the tenant's local time beside them (``local_start``); weekly
hours and dates (``date``, ``date_from``, ``date_to``) are local to the tenant's time zone.
Services and staff are never deleted, only deactivated, so bookings keep them. Two customers
racing for one time get one booking and one 409 ``slot_taken``. A bad input is a 422 naming the
field (``body.start_at``, ``query.date``) and writes nothing. Another tenant's ids are 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, decode_uuid_cursor, paginate
from smeflow.api.routes._fields import body_fields
from smeflow.bookings import (
    DEFAULT_STEP,
    MAX_DAYS,
    add_time_off,
    available_slots,
    calendar,
    cancel,
    complete,
    confirm,
    create_booking,
    create_service,
    create_staff,
    deactivate_service,
    deactivate_staff,
    get_booking,
    get_service,
    get_staff,
    list_bookings,
    list_services,
    list_staff,
    list_time_off,
    local_bounds,
    mark_no_show,
    names_of,
    remove_time_off,
    reschedule,
    staff_hours,
    staff_out,
    to_csv,
    to_ics,
    update_notes,
    update_service,
    update_staff,
    zone_of,
)
from smeflow.bookings.models import Booking, BookingStaff
from smeflow.bookings.schemas import (
    AvailabilityOut,
    BookingIn,
    BookingOut,
    BookingStatus,
    BookingUpdate,
    CalendarDay,
    CalendarOut,
    CalendarStaffDay,
    CancelIn,
    CancelOut,
    ServiceIn,
    ServiceOut,
    ServiceUpdate,
    SlotOut,
    StaffIn,
    StaffOut,
    StaffUpdate,
    TimeOffIn,
    TimeOffOut,
)
from smeflow.core import utcnow
from smeflow.db import DbScope
from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity import Principal

router = APIRouter(prefix="/api/v1", tags=["bookings"])

_DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else None
Read = Annotated[Principal, require("bookings:read")]
Write = Annotated[Principal, require("bookings:write")]
Manage = Annotated[Principal, require("bookings:manage")]
#: the most rows one export holds
EXPORT_LIMIT = 10_000


def _scope(principal: Principal) -> tuple[uuid.UUID, DbScope]:
    tenant_id: uuid.UUID = require_tenant(principal)
    return tenant_id, DbScope.tenant(tenant_id, principal.user_id)


def _text_cursor(cursor: str | None) -> str | None:
    value = decode_cursor(cursor)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])
    return value


def _booking_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        start, booking_id = value
        return datetime.fromisoformat(start), uuid.UUID(booking_id)
    except (TypeError, ValueError):
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")]) from None


def booking_out(row: Booking, zone: ZoneInfo) -> BookingOut:
    """A booking as the API shows it, with its local times."""
    return BookingOut(
        id=row.id,
        service_id=row.service_id,
        staff_id=row.staff_id,
        customer_name=row.customer_name,
        customer_phone=row.customer_phone,
        customer_email=row.customer_email,
        start_at=row.start_at,
        end_at=row.end_at,
        local_start=row.start_at.astimezone(zone),
        local_end=row.end_at.astimezone(zone),
        status=row.status,
        deposit_minor=row.deposit_minor,
        currency=row.currency,
        payment_id=row.payment_id,
        expires_at=row.expires_at,
        source=row.source,
        notes=row.notes,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# --- services ---------------------------------------------------------------------------


@router.get("/booking-services", summary="The tenant's bookable services, by name", description=_DESCRIPTION)
async def list_booking_services(
    state: State, principal: Read, limit: Limit = 50, cursor: Cursor = None, active: bool | None = None
) -> Page[ServiceOut]:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        rows = await list_services(
            session, tenant_id, limit=limit + 1, after_name=_text_cursor(cursor), active=active
        )
    return paginate(rows, limit, lambda r: r.name, ServiceOut.model_validate)


@router.post("/booking-services", status_code=status.HTTP_201_CREATED, summary="Add a bookable service")
async def create_booking_service(body: ServiceIn, state: State, principal: Manage) -> ServiceOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await create_service(session, principal.actor, tenant_id, body)
    return ServiceOut.model_validate(row)


@router.get("/booking-services/{booking_service_id}", summary="One bookable service")
async def get_booking_service(booking_service_id: uuid.UUID, state: State, principal: Read) -> ServiceOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return ServiceOut.model_validate(await get_service(session, tenant_id, booking_service_id))


@router.patch(
    "/booking-services/{booking_service_id}", summary="Change a service (made bookings keep theirs)"
)
async def patch_booking_service(
    booking_service_id: uuid.UUID, body: ServiceUpdate, state: State, principal: Manage
) -> ServiceOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await update_service(session, principal.actor, tenant_id, booking_service_id, body)
    return ServiceOut.model_validate(row)


@router.delete(
    "/booking-services/{booking_service_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop offering a service (deactivated; its bookings keep it)",
)
async def delete_booking_service(booking_service_id: uuid.UUID, state: State, principal: Manage) -> None:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        await deactivate_service(session, principal.actor, tenant_id, booking_service_id)


# --- staff ------------------------------------------------------------------------------


async def _staff_out(
    session: AsyncSession, tenant_id: uuid.UUID, rows: Sequence[BookingStaff]
) -> list[StaffOut]:
    hours = await staff_hours(session, tenant_id, [r.id for r in rows])
    return [staff_out(r, hours[r.id]) for r in rows]


@router.get("/staff", summary="The staff (and chairs, rooms, bays) bookings are made with, by name")
async def list_all_staff(
    state: State, principal: Read, limit: Limit = 50, cursor: Cursor = None, active: bool | None = None
) -> Page[StaffOut]:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        rows = await list_staff(
            session, tenant_id, limit=limit + 1, after_name=_text_cursor(cursor), active=active
        )
        shown = {s.id: s for s in await _staff_out(session, tenant_id, rows[:limit])}
    return paginate(rows, limit, lambda r: r.name, lambda r: shown[r.id])


@router.post("/staff", status_code=status.HTTP_201_CREATED, summary="Add a staff member with weekly hours")
async def create_one_staff(body: StaffIn, state: State, principal: Manage) -> StaffOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await create_staff(session, principal.actor, tenant_id, body)
            (shown,) = await _staff_out(session, tenant_id, [row])
    return shown


@router.get("/staff/{staff_id}", summary="One staff member with their weekly hours and breaks")
async def get_one_staff(staff_id: uuid.UUID, state: State, principal: Read) -> StaffOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        row = await get_staff(session, tenant_id, staff_id)
        (shown,) = await _staff_out(session, tenant_id, [row])
    return shown


@router.patch("/staff/{staff_id}", summary="Change a staff member's services, weekly hours or breaks")
async def patch_one_staff(
    staff_id: uuid.UUID, body: StaffUpdate, state: State, principal: Manage
) -> StaffOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await update_staff(session, principal.actor, tenant_id, staff_id, body)
            (shown,) = await _staff_out(session, tenant_id, [row])
    return shown


@router.delete(
    "/staff/{staff_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Deactivate a staff member"
)
async def delete_one_staff(staff_id: uuid.UUID, state: State, principal: Manage) -> None:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        await deactivate_staff(session, principal.actor, tenant_id, staff_id)


@router.get("/time-off", summary="Time off and holidays (a staff member's include the business's)")
async def list_all_time_off(
    state: State, principal: Read, limit: Limit = 50, cursor: Cursor = None, staff_id: uuid.UUID | None = None
) -> Page[TimeOffOut]:
    tenant_id, scope = _scope(principal)
    after = decode_uuid_cursor(cursor)
    async with state.db.transaction(scope) as session:
        rows = await list_time_off(session, tenant_id, staff_id=staff_id, limit=limit + 1, after=after)
    return paginate(rows, limit, lambda r: str(r.id), TimeOffOut.model_validate)


@router.post(
    "/time-off", status_code=status.HTTP_201_CREATED, summary="Add time off (or, without staff, a holiday)"
)
async def create_time_off(body: TimeOffIn, state: State, principal: Manage) -> TimeOffOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await add_time_off(session, principal.actor, tenant_id, body)
    return TimeOffOut.model_validate(row)


@router.delete("/time-off/{time_off_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove time off")
async def delete_time_off(time_off_id: uuid.UUID, state: State, principal: Manage) -> None:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        await remove_time_off(session, principal.actor, tenant_id, time_off_id)


# --- availability -----------------------------------------------------------------------


@router.get("/availability", summary="Free slots for a service (or every active one), in UTC and local time")
async def availability(
    state: State,
    principal: Read,
    service_id: Annotated[uuid.UUID | None, Query(description="omitted: every active service")] = None,
    date_: Annotated[
        date | None, Query(alias="date", description="the first local date (default: today)")
    ] = None,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 1,
    staff_id: Annotated[uuid.UUID | None, Query(description="omitted: any staff member")] = None,
    step: Annotated[int, Query(ge=5, le=240, description="minutes between offered starts")] = int(
        DEFAULT_STEP.total_seconds() // 60
    ),
) -> AvailabilityOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        zone = await zone_of(session, tenant_id)
        first = date_ or utcnow().astimezone(zone).date()
        if service_id is not None:
            await get_service(session, tenant_id, service_id)  # another tenant's is 404
            services = [service_id]
        else:
            services = [s.id for s in await list_services(session, tenant_id, limit=200, active=True)]
        items = []
        for sid in services:
            found = await available_slots(
                session,
                tenant_id,
                sid,
                first=first,
                days=days,
                staff_id=staff_id,
                step=timedelta(minutes=step),
            )
            items += [SlotOut(service_id=sid, **_slot_fields(s)) for s in found]
    return AvailabilityOut(timezone=zone.key, items=items)


def _slot_fields(slot: Any) -> dict[str, Any]:
    return {
        "staff_id": slot.staff_id,
        "start_at": slot.start_at,
        "end_at": slot.end_at,
        "local_start": slot.local_start,
        "local_end": slot.local_end,
    }


# --- bookings ---------------------------------------------------------------------------


def _bounds(zone: ZoneInfo, first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    if first is not None and last is not None and last < first:
        message = "date_to is before date_from"
        raise ValidationFailed(message, fields=[FieldProblem("query.date_to", message)])
    start = local_bounds(zone, first, first)[0] if first else None
    end = local_bounds(zone, last, last)[1] if last else None
    return start, end


DateFrom = Annotated[date | None, Query(description="bookings starting on or after this local date")]
DateTo = Annotated[date | None, Query(description="bookings starting on or before this local date")]
Statuses = Annotated[
    list[BookingStatus] | None, Query(description="only these statuses (repeat the parameter)")
]


@router.get("/bookings", summary="The tenant's bookings by start time, filtered", description=_DESCRIPTION)
async def list_all_bookings(
    state: State,
    principal: Read,
    limit: Limit = 50,
    cursor: Cursor = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    staff_id: uuid.UUID | None = None,
    status: Statuses = None,
) -> Page[BookingOut]:
    tenant_id, scope = _scope(principal)
    after = _booking_cursor(cursor)
    async with state.db.transaction(scope) as session:
        zone = await zone_of(session, tenant_id)
        start, end = _bounds(zone, date_from, date_to)
        rows = await list_bookings(
            session,
            tenant_id,
            limit=limit + 1,
            starts_from=start,
            starts_before=end,
            staff_id=staff_id,
            statuses=status or (),
            after=after,
        )
    return paginate(
        rows, limit, lambda r: [r.start_at.isoformat(), str(r.id)], lambda r: booking_out(r, zone)
    )


@router.post(
    "/bookings",
    status_code=status.HTTP_201_CREATED,
    summary="Book a time (confirmed, or held pending the deposit)",
    description=_DESCRIPTION,
)
async def create_one_booking(body: BookingIn, state: State, principal: Write) -> BookingOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await create_booking(session, principal.actor, tenant_id, body)
            zone = await zone_of(session, tenant_id)
    return booking_out(row, zone)


@router.get("/bookings/calendar", summary="Bookings by local day and staff member (a day or a week)")
async def calendar_view(
    state: State,
    principal: Read,
    view: Literal["day", "week"] = "day",
    date_: Annotated[date | None, Query(alias="date", description="a local date (default: today)")] = None,
    staff_id: uuid.UUID | None = None,
) -> CalendarOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        zone = await zone_of(session, tenant_id)
        day = date_ or utcnow().astimezone(zone).date()
        first = day - timedelta(days=day.weekday()) if view == "week" else day
        last = first + timedelta(days=6 if view == "week" else 0)
        sheets = await calendar(session, tenant_id, zone, first, last, staff_id=staff_id)
    days = [
        CalendarDay(
            date=sheet.day,
            staff=[
                CalendarStaffDay(
                    staff_id=s.staff.id,
                    name=s.staff.name,
                    bookings=[booking_out(b, zone) for b in s.bookings],
                )
                for s in sheet.staff
            ],
        )
        for sheet in sheets
    ]
    return CalendarOut(view=view, timezone=zone.key, first=first, last=last, days=days)


async def _export_rows(
    state: State,
    principal: Principal,
    date_from: date | None,
    date_to: date | None,
    staff_id: uuid.UUID | None,
    statuses: Sequence[str],
) -> tuple[list[Booking], ZoneInfo, dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        zone = await zone_of(session, tenant_id)
        start, end = _bounds(zone, date_from, date_to)
        rows = await list_bookings(
            session,
            tenant_id,
            limit=EXPORT_LIMIT,
            starts_from=start,
            starts_before=end,
            staff_id=staff_id,
            statuses=statuses,
        )
        services, staff = await names_of(session, tenant_id)
    return rows, zone, services, staff


@router.get(
    "/bookings/export.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "one row per booking, times in UTC and local"}
    },
    summary="The bookings as CSV (same filters as the list)",
)
async def export_csv(
    state: State,
    principal: Read,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    staff_id: uuid.UUID | None = None,
    status: Statuses = None,
) -> Response:
    rows, zone, services, staff = await _export_rows(
        state, principal, date_from, date_to, staff_id, status or ()
    )
    return Response(
        to_csv(rows, zone, services, staff),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="bookings.csv"'},
    )


@router.get(
    "/bookings/export.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "an iCalendar event per booking"}},
    summary="The bookings as an iCalendar file (same filters as the list)",
)
async def export_ics(
    request: Request,
    state: State,
    principal: Read,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    staff_id: uuid.UUID | None = None,
    status: Statuses = None,
) -> Response:
    rows, _, services, staff = await _export_rows(
        state, principal, date_from, date_to, staff_id, status or ()
    )
    host = request.url.hostname or "smeflow"
    return Response(
        to_ics(rows, services, staff, host=host, now=utcnow()),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="bookings.ics"'},
    )


@router.get("/bookings/{booking_id}", summary="One booking")
async def get_one_booking(booking_id: uuid.UUID, state: State, principal: Read) -> BookingOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        row = await get_booking(session, tenant_id, booking_id)
        zone = await zone_of(session, tenant_id)
    return booking_out(row, zone)


@router.patch(
    "/bookings/{booking_id}",
    summary="Confirm, complete or mark a no-show; move (start_at, staff_id); or change the notes",
    description=_DESCRIPTION,
)
async def patch_one_booking(
    booking_id: uuid.UUID, body: BookingUpdate, state: State, principal: Write
) -> BookingOut:
    tenant_id, scope = _scope(principal)
    given = body.model_fields_set
    if not given:
        raise ValidationFailed("nothing to change", fields=[FieldProblem("body", "give at least one field")])
    if body.payment_id is not None and body.status != "confirmed":
        message = "a payment_id goes with status confirmed"
        raise ValidationFailed(message, fields=[FieldProblem("body.payment_id", message)])
    actor = principal.actor
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await get_booking(session, tenant_id, booking_id)
            if body.start_at is not None or body.staff_id is not None:
                start = body.start_at or row.start_at
                row = await reschedule(
                    session, actor, tenant_id, booking_id, start_at=start, staff_id=body.staff_id
                )
            if body.status == "confirmed":
                row = await confirm(session, actor, tenant_id, booking_id, payment_id=body.payment_id)
            elif body.status == "completed":
                row = await complete(session, actor, tenant_id, booking_id)
            elif body.status == "no_show":
                row = await mark_no_show(session, actor, tenant_id, booking_id)
            if "notes" in given:
                row = await update_notes(session, actor, tenant_id, booking_id, body.notes)
            zone = await zone_of(session, tenant_id)
    return booking_out(row, zone)


@router.post("/bookings/{booking_id}/cancel", summary="Cancel a booking; says what becomes of the deposit")
async def cancel_one_booking(
    booking_id: uuid.UUID, state: State, principal: Write, body: CancelIn | None = None
) -> CancelOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            done = await cancel(
                session, principal.actor, tenant_id, booking_id, reason=body.reason if body else None
            )
            zone = await zone_of(session, tenant_id)
    return CancelOut(
        booking=booking_out(done.booking, zone),
        deposit=done.deposit,
        amount_minor=done.amount_minor,
        currency=done.currency,
        inside_notice=done.inside_notice,
    )
