"""Bookings for a salon, clinic, consultancy or workshop: a catalogue of services and staff with
weekly hours, breaks and time off; availability in the tenant's time zone; bookings that the
database refuses to double-book; deposit holds that expire; cancellation and rescheduling by the
service's notice rules; reminders and rebooking invitations for the workers; CSV and iCalendar
exports. See ``models.py`` for the tables' contracts and ``service.py`` for the operations'."""

from smeflow.bookings._availability import Slot
from smeflow.bookings._calendar import DaySheet, StaffSheet, calendar, local_bounds
from smeflow.bookings._catalogue import (
    add_time_off,
    create_service,
    create_staff,
    deactivate_service,
    deactivate_staff,
    get_service,
    get_staff,
    list_services,
    list_staff,
    list_time_off,
    names_of,
    remove_time_off,
    staff_hours,
    staff_out,
    update_service,
    update_staff,
)
from smeflow.bookings._exports import to_csv, to_ics
from smeflow.bookings._holds import EXPIRER, ExpiredHold, expire_holds
from smeflow.bookings._reminders import DueReminder, due_reminders, reminders_of
from smeflow.bookings._schedule import DEFAULT_STEP, MAX_DAYS, available_slots, zone_of
from smeflow.bookings._states import TRANSITIONS, TransitionRefused, check_transition
from smeflow.bookings.service import (
    DEFAULT_HOLD,
    Cancellation,
    HoldExpired,
    NoticeTooShort,
    SlotTaken,
    SlotUnavailable,
    cancel,
    complete,
    confirm,
    create_booking,
    get_booking,
    list_bookings,
    mark_no_show,
    reschedule,
    update_notes,
)

__all__ = [
    "DEFAULT_HOLD",
    "EXPIRER",
    "DaySheet",
    "StaffSheet",
    "calendar",
    "local_bounds",
    "names_of",
    "DEFAULT_STEP",
    "MAX_DAYS",
    "TRANSITIONS",
    "Cancellation",
    "DueReminder",
    "ExpiredHold",
    "HoldExpired",
    "NoticeTooShort",
    "Slot",
    "SlotTaken",
    "SlotUnavailable",
    "TransitionRefused",
    "add_time_off",
    "available_slots",
    "cancel",
    "check_transition",
    "complete",
    "confirm",
    "create_booking",
    "create_service",
    "create_staff",
    "deactivate_service",
    "deactivate_staff",
    "due_reminders",
    "expire_holds",
    "get_booking",
    "get_service",
    "get_staff",
    "list_bookings",
    "list_services",
    "list_staff",
    "list_time_off",
    "mark_no_show",
    "remove_time_off",
    "reminders_of",
    "reschedule",
    "staff_hours",
    "staff_out",
    "to_csv",
    "to_ics",
    "update_notes",
    "update_service",
    "update_staff",
    "zone_of",
]
