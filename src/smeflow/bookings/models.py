"""The booking tables: the catalogue (services, staff, their weekly hours, time off), bookings
and the reminders the workers send about them.

Key contracts: every table leads its primary key with ``tenant_id`` under forced row-level
security (migration ``0015_bookings``).

* ``bookings`` cannot double-book a staff member: a partial exclusion constraint
  (``ex_bookings_no_overlap``, btree_gist) refuses two rows of one tenant and staff member whose
  ``[start_at, blocked_until)`` ranges overlap while both hold the slot (``pending_payment`` or
  ``confirmed``). ``blocked_until`` is ``end_at`` plus the service's buffer, fixed at booking.
* ``booking_hours`` are local wall-clock times in the tenant's time zone (``weekday`` 0 is
  Monday); an interval whose end is not after its start runs past midnight into the next day.
* ``booking_time_off`` is a range of local dates (inclusive), for one staff member or, with no
  ``staff_id``, the whole business.
* The workers' ``platform`` scope may read holds (``pending_payment`` bookings) to expire them,
  and read and claim reminders; nothing else of these tables.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smeflow.core import new_id, utcnow
from smeflow.db import Base

BOOKING_STATUSES = ("pending_payment", "confirmed", "completed", "cancelled", "no_show", "expired")
#: the statuses in which a booking holds its slot (the exclusion constraint's ``WHERE``)
HOLDING = ("pending_payment", "confirmed")
REMINDER_KINDS = ("reminder_24h", "reminder_2h", "rebook")

_STATUS_CHECK = "status IN ('pending_payment', 'confirmed', 'completed', 'cancelled', 'no_show', 'expired')"
_HOLDING_SQL = "status IN ('pending_payment', 'confirmed')"


class BookingService(Base):
    """Something a customer can book: a haircut, a consultation, a car service."""

    __tablename__ = "booking_services"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("duration_minutes > 0", name="duration"),
        CheckConstraint(
            "price_minor >= 0 AND deposit_minor >= 0 AND deposit_minor <= price_minor", name="money"
        ),
        CheckConstraint("buffer_minutes >= 0", name="buffer"),
        CheckConstraint("rebook_after_days IS NULL OR rebook_after_days > 0", name="rebook"),
        CheckConstraint("cancellation_notice_hours >= 0", name="notice"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    deposit_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)
    buffer_minutes: Mapped[int] = mapped_column(Integer)
    rebook_after_days: Mapped[int | None] = mapped_column(Integer)
    cancellation_notice_hours: Mapped[int] = mapped_column(Integer)
    keep_deposit_on_late_cancel: Mapped[bool] = mapped_column(Boolean)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BookingStaff(Base):
    """A person (or a chair, a room, a bay) that bookings are made with."""

    __tablename__ = "booking_staff"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    service_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BookingHours(Base):
    """One weekly interval of a staff member: working time, or a break inside it."""

    __tablename__ = "booking_hours"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "staff_id"], ["booking_staff.tenant_id", "booking_staff.id"], ondelete="CASCADE"
        ),
        CheckConstraint("kind IN ('work', 'break')", name="kind"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("starts <> ends", name="length"),
        Index("ix_booking_hours_staff", "tenant_id", "staff_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    staff_id: Mapped[uuid.UUID] = mapped_column(UUID)
    kind: Mapped[str] = mapped_column(Text)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)


class TimeOff(Base):
    """Local dates on which a staff member (or, without one, the whole business) takes no bookings."""

    __tablename__ = "booking_time_off"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "staff_id"], ["booking_staff.tenant_id", "booking_staff.id"], ondelete="CASCADE"
        ),
        CheckConstraint("ends_on >= starts_on", name="range"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Booking(Base):
    """A customer's appointment with a staff member for a service."""

    __tablename__ = "bookings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "service_id"],
            ["booking_services.tenant_id", "booking_services.id"],
            ondelete="RESTRICT",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "staff_id"], ["booking_staff.tenant_id", "booking_staff.id"], ondelete="RESTRICT"
        ),
        CheckConstraint(_STATUS_CHECK, name="status"),
        CheckConstraint("end_at > start_at AND blocked_until >= end_at", name="times"),
        CheckConstraint("deposit_minor >= 0", name="deposit"),
        CheckConstraint("status <> 'pending_payment' OR expires_at IS NOT NULL", name="hold"),
        ExcludeConstraint(
            (text("tenant_id"), "="),
            (text("staff_id"), "="),
            (text("tstzrange(start_at, blocked_until)"), "&&"),
            name="ex_bookings_no_overlap",
            using="gist",
            where=text(_HOLDING_SQL),
        ),
        Index("ix_bookings_start", "tenant_id", "start_at"),
        Index("ix_bookings_holds", "expires_at", postgresql_where=text("status = 'pending_payment'")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(UUID)
    staff_id: Mapped[uuid.UUID] = mapped_column(UUID)
    customer_name: Mapped[str] = mapped_column(Text)
    customer_phone: Mapped[str] = mapped_column(Text)
    customer_email: Mapped[str | None] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text)
    deposit_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BookingReminder(Base):
    """A message due about a booking (a reminder before it, a rebooking invitation after it)."""

    __tablename__ = "booking_reminders"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "booking_id"], ["bookings.tenant_id", "bookings.id"], ondelete="CASCADE"
        ),
        CheckConstraint("kind IN ('reminder_24h', 'reminder_2h', 'rebook')", name="kind"),
        UniqueConstraint("tenant_id", "booking_id", "kind"),
        Index("ix_booking_reminders_due", "due_at", postgresql_where=text("sent_at IS NULL")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=new_id)
    booking_id: Mapped[uuid.UUID] = mapped_column(UUID)
    kind: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


__all__ = [
    "BOOKING_STATUSES",
    "HOLDING",
    "REMINDER_KINDS",
    "Booking",
    "BookingHours",
    "BookingReminder",
    "BookingService",
    "BookingStaff",
    "TimeOff",
]
