"""Bookings: make one, confirm it when its deposit is paid, complete, cancel, move, expire holds.

Key contracts:

* No double booking, whatever the concurrency: the insert or move runs in a savepoint and the
  database's exclusion constraint (``ex_bookings_no_overlap``) refuses an overlap; that refusal
  becomes :class:`SlotTaken` ("that time was just taken"), and nothing is half-written.
* A booking whose service asks a deposit starts ``pending_payment`` with a hold that lapses at
  ``expires_at`` (:data:`DEFAULT_HOLD` unless told); :func:`confirm` when the payment succeeded;
  ``expire_holds`` (:mod:`._holds`: workers, every tenant) marks lapsed holds ``expired``, which
  frees the slot.
* Status changes follow :data:`~smeflow.bookings._states.TRANSITIONS`; anything else is a
  :class:`~smeflow.bookings._states.TransitionRefused`.
* Cancelling inside the service's notice keeps a paid deposit when the service says so (else
  it is refundable); moving inside the notice is refused (:class:`NoticeTooShort`).
* Every change is audited in the caller's transaction; services flush, the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.bookings._availability import fits
from smeflow.bookings._catalogue import NO_SERVICE, get_service
from smeflow.bookings._reminders import drop_reminders, plan_rebook, plan_visit_reminders
from smeflow.bookings._schedule import offering, span, staff_weeks, zone_of
from smeflow.bookings._states import check_transition
from smeflow.bookings.models import Booking, BookingService
from smeflow.bookings.schemas import BookingIn
from smeflow.core import new_id, utcnow
from smeflow.core.phones import PhoneError, to_e164
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from smeflow.tenancy import get_tenant

#: how long an unpaid booking holds its slot
DEFAULT_HOLD = timedelta(minutes=15)
NO_BOOKING = "No such booking"
_EXCLUSION = "ex_bookings_no_overlap"

Deposit = Literal["kept", "refundable", "none"]


class SlotTaken(Conflict):
    code = "slot_taken"
    title = "That time was just taken"


class SlotUnavailable(Conflict):
    code = "slot_unavailable"
    title = "That time is not available"


class NoticeTooShort(Conflict):
    code = "notice_too_short"
    title = "It is too close to the booking to do that"


class HoldExpired(Conflict):
    code = "hold_expired"
    title = "The booking's hold has expired"


@dataclass(frozen=True, slots=True)
class Cancellation:
    """What :func:`cancel` did, and what becomes of the deposit."""

    booking: Booking
    deposit: Deposit
    amount_minor: int
    currency: str
    inside_notice: bool


def _problem(
    kind: type[Conflict] | type[ValidationFailed], field: str, message: str, code: str = "invalid"
) -> Exception:
    return kind(message, fields=[FieldProblem(field, message, code)])


def _audit_data(booking: Booking, **more: Any) -> dict[str, Any]:
    return {
        "service_id": str(booking.service_id),
        "staff_id": str(booking.staff_id),
        "start_at": booking.start_at.isoformat(),
        "end_at": booking.end_at.isoformat(),
        "status": booking.status,
        **more,
    }


async def _active_service(
    session: AsyncSession, tenant_id: uuid.UUID, service_id: uuid.UUID
) -> BookingService:
    try:
        service = await get_service(session, tenant_id, service_id)
    except NotFound:
        raise _problem(ValidationFailed, "service_id", NO_SERVICE, "unknown_service") from None
    if not service.active:
        raise _problem(ValidationFailed, "service_id", "the service is not offered any more", "inactive")
    return service


async def _flush_slot(session: AsyncSession) -> None:
    """Flush in a savepoint; the exclusion constraint's refusal is :class:`SlotTaken`."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if _EXCLUSION not in str(exc.orig):
            raise
        raise _problem(
            SlotTaken, "start_at", "that time was just taken: choose another", "slot_taken"
        ) from exc


async def _free_staff(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    service: BookingService,
    start: datetime,
    staff_id: uuid.UUID | None,
    *,
    ignore: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """The staff who could take the service at ``start`` (by name), else :class:`SlotUnavailable`."""
    staff = await offering(session, tenant_id, service.id, staff_id)
    if staff_id is not None and not staff:
        raise _problem(
            ValidationFailed,
            "staff_id",
            "no active staff member with that id offers the service",
            "unknown_staff",
        )
    zone = await zone_of(session, tenant_id)
    day = start.astimezone(zone).date()
    duration, buffer = span(service)
    weeks = await staff_weeks(session, tenant_id, staff, day, day, zone, ignore=ignore)
    free = [w.staff_id for w in weeks if fits(w, start, duration, buffer, zone)]
    if not free:
        local = start.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        raise _problem(
            SlotUnavailable,
            "start_at",
            f"{local} ({zone.key}) is not a free time for {service.name}",
            "unavailable",
        )
    return free


async def create_booking(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    data: BookingIn,
    *,
    hold: timedelta = DEFAULT_HOLD,
    now: datetime | None = None,
) -> Booking:
    """Book ``data.start_at``: ``confirmed`` at once when the service asks no deposit, else
    ``pending_payment`` holding the slot for ``hold``. :class:`ValidationFailed` names the field
    (``service_id``, ``staff_id``, ``start_at``, ``customer_phone``); :class:`SlotUnavailable` for a
    time outside the schedule; :class:`SlotTaken` when another booking got it first."""
    at = now or utcnow()
    tenant = await get_tenant(session, tenant_id)
    service = await _active_service(session, tenant_id, data.service_id)
    try:
        phone = to_e164(data.customer_phone, tenant.country)
    except PhoneError as exc:
        raise _problem(ValidationFailed, "customer_phone", str(exc), "invalid_phone") from None
    if data.start_at < at:
        raise _problem(ValidationFailed, "start_at", "the time is in the past", "past")
    candidates = await _free_staff(session, tenant_id, service, data.start_at, data.staff_id)
    duration, buffer = span(service)
    pending = service.deposit_minor > 0
    for index, staff_id in enumerate(candidates):
        booking = Booking(
            tenant_id=tenant_id,
            id=new_id(),
            service_id=service.id,
            staff_id=staff_id,
            customer_name=data.customer_name,
            customer_phone=phone,
            customer_email=data.customer_email,
            start_at=data.start_at,
            end_at=data.start_at + duration,
            blocked_until=data.start_at + duration + buffer,
            status="pending_payment" if pending else "confirmed",
            deposit_minor=service.deposit_minor,
            currency=service.currency,
            expires_at=at + hold if pending else None,
            source=data.source,
            notes=data.notes,
            created_at=at,
            updated_at=at,
        )
        session.add(booking)
        try:
            await _flush_slot(session)
        except SlotTaken:
            if booking in session:
                session.expunge(booking)
            if index + 1 < len(candidates):
                continue  # someone else got this staff member: try the next one free then
            raise
        break
    if booking.status == "confirmed":
        await plan_visit_reminders(session, booking, at)
    await record(
        session,
        tenant_id,
        actor,
        "booking.created",
        "booking",
        str(booking.id),
        _audit_data(booking, deposit_minor=booking.deposit_minor, currency=booking.currency),
    )
    return booking


async def get_booking(
    session: AsyncSession, tenant_id: uuid.UUID, booking_id: uuid.UUID, *, lock: bool = False
) -> Booking:
    """The tenant's booking (locked for this transaction, with ``lock``), else :class:`NotFound`."""
    query = select(Booking).where(Booking.tenant_id == tenant_id, Booking.id == booking_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(NO_BOOKING)
    return row


async def list_bookings(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
    staff_id: uuid.UUID | None = None,
    statuses: Sequence[str] = (),
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Booking]:
    """The tenant's bookings by start time, filtered, from after ``after`` (start, id)."""
    query = select(Booking).where(Booking.tenant_id == tenant_id)
    if starts_from is not None:
        query = query.where(Booking.start_at >= starts_from)
    if starts_before is not None:
        query = query.where(Booking.start_at < starts_before)
    if staff_id is not None:
        query = query.where(Booking.staff_id == staff_id)
    if statuses:
        query = query.where(Booking.status.in_(list(statuses)))
    if after is not None:
        query = query.where(tuple_(Booking.start_at, Booking.id) > tuple_(*after))
    return list((await session.execute(query.order_by(Booking.start_at, Booking.id).limit(limit))).scalars())


async def _move_to(
    session: AsyncSession, actor: Actor, booking: Booking, status: str, action: str, at: datetime, **more: Any
) -> None:
    check_transition(booking.status, status)
    before = booking.status
    booking.status = status
    booking.updated_at = at
    await session.flush()
    await record(
        session,
        booking.tenant_id,
        actor,
        action,
        "booking",
        str(booking.id),
        _audit_data(booking, previous=before, **more),
    )


async def confirm(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    payment_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Booking:
    """Confirm a held booking whose deposit was paid (``payment_id``), and plan its reminders.
    A hold that has lapsed is :class:`HoldExpired` (the payment is for the caller to refund)."""
    at = now or utcnow()
    booking = await get_booking(session, tenant_id, booking_id, lock=True)
    check_transition(booking.status, "confirmed")
    if booking.expires_at is not None and booking.expires_at <= at:
        raise _problem(
            HoldExpired, "status", "the hold on this time lapsed before it was paid", "hold_expired"
        )
    if payment_id is not None:
        booking.payment_id = payment_id
    await _move_to(
        session,
        actor,
        booking,
        "confirmed",
        "booking.confirmed",
        at,
        payment_id=str(payment_id) if payment_id else None,
    )
    await plan_visit_reminders(session, booking, at)
    return booking


async def complete(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> Booking:
    """The customer came: ``completed``, with an invitation to rebook if the service has one."""
    booking = await get_booking(session, tenant_id, booking_id, lock=True)
    await _move_to(session, actor, booking, "completed", "booking.completed", now or utcnow())
    await plan_rebook(session, booking, await get_service(session, tenant_id, booking.service_id))
    return booking


async def mark_no_show(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> Booking:
    """The customer did not come: ``no_show`` (the deposit, if any, stays with the business)."""
    booking = await get_booking(session, tenant_id, booking_id, lock=True)
    await _move_to(session, actor, booking, "no_show", "booking.no_show", now or utcnow())
    await drop_reminders(session, booking)
    return booking


def _notice(service: BookingService) -> timedelta:
    return timedelta(hours=service.cancellation_notice_hours)


async def cancel(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> Cancellation:
    """Cancel a booking, drop its reminders, and say what becomes of the deposit: none was paid
    (``none``), kept (cancelled inside the notice of a service that keeps it) or refundable."""
    at = now or utcnow()
    booking = await get_booking(session, tenant_id, booking_id, lock=True)
    service = await get_service(session, tenant_id, booking.service_id)
    inside = booking.start_at - at < _notice(service)
    paid = booking.status == "confirmed" and booking.deposit_minor > 0
    deposit: Deposit = (
        "none" if not paid else ("kept" if inside and service.keep_deposit_on_late_cancel else "refundable")
    )
    amount = booking.deposit_minor if paid else 0
    await _move_to(
        session,
        actor,
        booking,
        "cancelled",
        "booking.cancelled",
        at,
        reason=reason,
        deposit=deposit,
        amount_minor=amount,
        currency=booking.currency,
        inside_notice=inside,
    )
    await drop_reminders(session, booking)
    return Cancellation(booking, deposit, amount, booking.currency, inside)


async def reschedule(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    start_at: datetime,
    staff_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Booking:
    """Move a held or confirmed booking to ``start_at`` (and ``staff_id``, if given; else the same
    staff member), with the same guarantee against double booking; reminders are recomputed.
    Inside the service's notice it is :class:`NoticeTooShort`."""
    at = now or utcnow()
    booking = await get_booking(session, tenant_id, booking_id, lock=True)
    if booking.status not in ("pending_payment", "confirmed"):
        raise _problem(Conflict, "start_at", f"a {booking.status} booking cannot be moved", "transition")
    service = await get_service(session, tenant_id, booking.service_id)
    notice = _notice(service)
    if booking.start_at - at < notice:
        message = (
            f"{service.name} needs {service.cancellation_notice_hours} h notice to move a booking; "
            f"this one starts in less than that"
        )
        raise _problem(NoticeTooShort, "start_at", message, "notice_too_short")
    if start_at < at:
        raise _problem(ValidationFailed, "start_at", "the time is in the past", "past")
    target = staff_id or booking.staff_id
    try:
        await _free_staff(session, tenant_id, service, start_at, target, ignore=booking.id)
    except ValidationFailed as exc:
        if staff_id is None:
            raise _problem(
                SlotUnavailable,
                "start_at",
                "the booking's staff member no longer offers the service",
                "unavailable",
            ) from exc
        raise
    before = (booking.start_at, booking.staff_id)
    duration, buffer = span(service)
    booking.staff_id = target
    booking.start_at = start_at
    booking.end_at = start_at + duration
    booking.blocked_until = start_at + duration + buffer
    booking.updated_at = at
    await _flush_slot(session)
    if booking.status == "confirmed":
        await plan_visit_reminders(session, booking, at)
    await record(
        session,
        tenant_id,
        actor,
        "booking.rescheduled",
        "booking",
        str(booking.id),
        _audit_data(booking, previous_start_at=before[0].isoformat(), previous_staff_id=str(before[1])),
    )
    return booking


async def update_notes(
    session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, booking_id: uuid.UUID, notes: str | None
) -> Booking:
    """Replace a booking's notes."""
    booking = await get_booking(session, tenant_id, booking_id, lock=True)
    booking.notes = notes
    booking.updated_at = utcnow()
    await session.flush()
    await record(session, tenant_id, actor, "booking.noted", "booking", str(booking.id), {})
    return booking


__all__ = [
    "DEFAULT_HOLD",
    "NO_BOOKING",
    "Cancellation",
    "Deposit",
    "HoldExpired",
    "NoticeTooShort",
    "SlotTaken",
    "SlotUnavailable",
    "cancel",
    "complete",
    "confirm",
    "create_booking",
    "get_booking",
    "list_bookings",
    "mark_no_show",
    "reschedule",
    "update_notes",
]
