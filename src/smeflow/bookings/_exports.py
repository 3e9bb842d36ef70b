"""Bookings as files: CSV for spreadsheets and iCalendar (RFC 5545) for calendar apps.

The iCalendar text is written by hand: ``VCALENDAR`` with one ``VEVENT`` per booking (``UID``,
``DTSTAMP``, ``DTSTART``/``DTEND`` in UTC, ``SUMMARY``, ``STATUS``), lines ended by CRLF, text
escaped (``\\``, ``;``, ``,``, newlines) and folded at 75 octets.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from smeflow.bookings.models import Booking

CSV_COLUMNS = (
    "id",
    "status",
    "service",
    "staff",
    "customer_name",
    "customer_phone",
    "customer_email",
    "start_at",
    "end_at",
    "local_start",
    "local_end",
    "deposit_minor",
    "currency",
    "source",
    "notes",
)
_ICS_STATUS = {"pending_payment": "TENTATIVE", "cancelled": "CANCELLED", "expired": "CANCELLED"}


def _safe_cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is quoted with a leading apostrophe.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(
    bookings: Sequence[Booking],
    zone: ZoneInfo,
    services: Mapping[uuid.UUID, str],
    staff: Mapping[uuid.UUID, str],
) -> str:
    """A CSV document (header row first) of the bookings, times in UTC and local."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for b in bookings:
        row = [
            str(b.id),
            b.status,
            services.get(b.service_id, ""),
            staff.get(b.staff_id, ""),
            b.customer_name,
            b.customer_phone,
            b.customer_email or "",
            b.start_at.isoformat(),
            b.end_at.isoformat(),
            b.start_at.astimezone(zone).isoformat(),
            b.end_at.astimezone(zone).isoformat(),
            str(b.deposit_minor),
            b.currency,
            b.source or "",
            b.notes or "",
        ]
        writer.writerow([_safe_cell(cell) for cell in row])
    return out.getvalue()


def _utc(at: datetime) -> str:
    return at.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def _escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> list[str]:
    """A content line folded into pieces of at most 75 octets (continuations start with a space)."""
    pieces: list[str] = []
    current = ""
    limit = 75
    for char in line:
        if len((current + char).encode()) > limit:
            pieces.append(current)
            current = " "
            limit = 75
        current += char
    pieces.append(current)
    return pieces


def to_ics(
    bookings: Sequence[Booking],
    services: Mapping[uuid.UUID, str],
    staff: Mapping[uuid.UUID, str],
    *,
    host: str,
    now: datetime,
) -> str:
    """An iCalendar document with one event per booking."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//SMEFlow//Bookings//EN", "CALSCALE:GREGORIAN"]
    for b in bookings:
        service = services.get(b.service_id, "Booking")
        summary = f"{service}: {b.customer_name}"
        description = f"{b.customer_phone} with {staff.get(b.staff_id, '')}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{b.id}@{host}",
            f"DTSTAMP:{_utc(now)}",
            f"DTSTART:{_utc(b.start_at)}",
            f"DTEND:{_utc(b.end_at)}",
            f"SUMMARY:{_escape(summary)}",
            f"DESCRIPTION:{_escape(description)}",
            f"STATUS:{_ICS_STATUS.get(b.status, 'CONFIRMED')}",
            f"LAST-MODIFIED:{_utc(b.updated_at)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(piece + "\r\n" for line in lines for piece in _fold(line))


__all__ = ["CSV_COLUMNS", "to_csv", "to_ics"]
