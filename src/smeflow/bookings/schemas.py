"""Bookings as the API shows and takes them: money in integer minor units plus the currency,
instants as aware datetimes in UTC (with the tenant's local time beside them), weekly hours as
local ``HH:MM`` times in the tenant's time zone."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

BookingStatus = Literal["pending_payment", "confirmed", "completed", "cancelled", "no_show", "expired"]
ReminderKind = Literal["reminder_24h", "reminder_2h", "rebook"]

_NAME = Field(min_length=1, max_length=200)


class ServiceIn(BaseModel):
    """A bookable service; its money is in the tenant's currency."""

    model_config = ConfigDict(extra="forbid")

    name: str = _NAME
    duration_minutes: int = Field(gt=0, le=24 * 60)
    price_minor: int = Field(ge=0, le=10**15, description="in minor units of the tenant's currency")
    deposit_minor: int = Field(0, ge=0, le=10**15, description="asked when booking; 0: confirmed at once")
    buffer_minutes: int = Field(0, ge=0, le=24 * 60, description="kept free after each booking")
    rebook_after_days: int | None = Field(None, gt=0, le=3650, description="invite to rebook this long after")
    cancellation_notice_hours: int = Field(24, ge=0, le=24 * 90)
    keep_deposit_on_late_cancel: bool = Field(True, description="a cancellation inside the notice keeps it")
    active: bool = True


class ServiceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    duration_minutes: int | None = Field(None, gt=0, le=24 * 60)
    price_minor: int | None = Field(None, ge=0, le=10**15)
    deposit_minor: int | None = Field(None, ge=0, le=10**15)
    buffer_minutes: int | None = Field(None, ge=0, le=24 * 60)
    rebook_after_days: int | None = Field(None, gt=0, le=3650)
    cancellation_notice_hours: int | None = Field(None, ge=0, le=24 * 90)
    keep_deposit_on_late_cancel: bool | None = None
    active: bool | None = None


class ServiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    duration_minutes: int
    price_minor: int
    deposit_minor: int
    currency: str
    buffer_minutes: int
    rebook_after_days: int | None
    cancellation_notice_hours: int
    keep_deposit_on_late_cancel: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class HoursIn(BaseModel):
    """A weekly local interval; ``ends`` at or before ``starts`` runs past midnight."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    weekday: int = Field(ge=0, le=6, description="0 is Monday")
    starts: time
    ends: time


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = _NAME
    service_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    hours: list[HoursIn] = Field(default_factory=list, max_length=100)
    breaks: list[HoursIn] = Field(default_factory=list, max_length=100)
    active: bool = True


class StaffUpdate(BaseModel):
    """Fields given replace the old ones (``hours`` and ``breaks`` as a whole week)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    service_ids: list[uuid.UUID] | None = Field(None, max_length=200)
    hours: list[HoursIn] | None = Field(None, max_length=100)
    breaks: list[HoursIn] | None = Field(None, max_length=100)
    active: bool | None = None


class StaffOut(BaseModel):
    id: uuid.UUID
    name: str
    service_ids: list[uuid.UUID]
    hours: list[HoursIn]
    breaks: list[HoursIn]
    active: bool
    created_at: datetime
    updated_at: datetime


class TimeOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: uuid.UUID | None = Field(None, description="omitted: the whole business (a holiday)")
    starts_on: date
    ends_on: date = Field(description="the last local date off (included)")
    reason: str | None = Field(None, max_length=200)


class TimeOffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    staff_id: uuid.UUID | None
    starts_on: date
    ends_on: date
    reason: str | None
    created_at: datetime


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: uuid.UUID
    staff_id: uuid.UUID | None = Field(None, description="omitted: the first staff member free then")
    start_at: AwareDatetime
    customer_name: str = _NAME
    customer_phone: str = Field(min_length=3, max_length=30, description="any usual format; stored as E.164")
    customer_email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    source: str | None = Field(None, max_length=40, description="the channel it came from (whatsapp, web…)")
    notes: str | None = Field(None, max_length=2000)


class BookingUpdate(BaseModel):
    """A status change, a move (``start_at`` and/or ``staff_id``), or new notes."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["confirmed", "completed", "no_show"] | None = None
    payment_id: uuid.UUID | None = Field(None, description="the payment that paid the deposit (confirming)")
    start_at: AwareDatetime | None = None
    staff_id: uuid.UUID | None = None
    notes: str | None = Field(None, max_length=2000)


class BookingOut(BaseModel):
    id: uuid.UUID
    service_id: uuid.UUID
    staff_id: uuid.UUID
    customer_name: str
    customer_phone: str
    customer_email: str | None
    start_at: datetime
    end_at: datetime
    local_start: datetime = Field(description="start_at in the tenant's time zone")
    local_end: datetime
    status: BookingStatus
    deposit_minor: int
    currency: str
    payment_id: uuid.UUID | None
    expires_at: datetime | None = Field(description="when an unpaid hold lapses")
    source: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class CancelOut(BaseModel):
    booking: BookingOut
    deposit: Literal["kept", "refundable", "none"] = Field(description="what becomes of the deposit")
    amount_minor: int = Field(description="the deposit kept or to refund, in minor units")
    currency: str
    inside_notice: bool


class SlotOut(BaseModel):
    service_id: uuid.UUID
    staff_id: uuid.UUID
    start_at: datetime
    end_at: datetime
    local_start: datetime
    local_end: datetime


class AvailabilityOut(BaseModel):
    timezone: str
    items: list[SlotOut]


class CalendarStaffDay(BaseModel):
    staff_id: uuid.UUID
    name: str
    bookings: list[BookingOut]


class CalendarDay(BaseModel):
    date: date
    staff: list[CalendarStaffDay]


class CalendarOut(BaseModel):
    view: Literal["day", "week"]
    timezone: str
    first: date
    last: date
    days: list[CalendarDay]


__all__ = [
    "AvailabilityOut",
    "BookingIn",
    "BookingOut",
    "BookingStatus",
    "BookingUpdate",
    "CalendarDay",
    "CalendarOut",
    "CalendarStaffDay",
    "CancelIn",
    "CancelOut",
    "HoursIn",
    "ReminderKind",
    "ServiceIn",
    "ServiceOut",
    "ServiceUpdate",
    "SlotOut",
    "StaffIn",
    "StaffOut",
    "StaffUpdate",
    "TimeOffIn",
    "TimeOffOut",
]
