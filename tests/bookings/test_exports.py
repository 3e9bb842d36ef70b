"""CSV and iCalendar exports parse back to what was booked."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from smeflow.bookings import to_csv, to_ics
from smeflow.bookings.models import Booking

SERVICE, STAFF = uuid.UUID(int=1), uuid.UUID(int=2)


def booking(name: str, notes: str | None = None) -> Booking:
    start = datetime(2031, 1, 31, 23, 30, tzinfo=UTC)
    return Booking(
        tenant_id=uuid.UUID(int=9),
        id=uuid.uuid4(),
        service_id=SERVICE,
        staff_id=STAFF,
        customer_name=name,
        customer_phone="+2348031234567",
        customer_email=None,
        start_at=start,
        end_at=start.replace(day=31, hour=23, minute=59),
        blocked_until=start,
        status="confirmed",
        deposit_minor=150000,
        currency="NGN",
        notes=notes,
        source="whatsapp",
        created_at=start,
        updated_at=start,
    )


def test_csv_has_a_header_and_one_row_per_booking() -> None:
    rows = [booking("Adaeze, Okafor", "line one\nline two"), booking("=HYPERLINK(1)")]
    text = to_csv(rows, ZoneInfo("Africa/Lagos"), {SERVICE: "Braids"}, {STAFF: "Kemi"})
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["customer_name"] for r in parsed] == ["Adaeze, Okafor", "'=HYPERLINK(1)"]
    assert parsed[0]["notes"] == "line one\nline two"
    assert (parsed[0]["service"], parsed[0]["staff"], parsed[0]["deposit_minor"]) == (
        "Braids",
        "Kemi",
        "150000",
    )
    assert parsed[0]["start_at"] == "2031-01-31T23:30:00+00:00"
    assert parsed[0]["local_start"] == "2031-02-01T00:30:00+01:00"  # already February in Lagos


def test_ics_is_valid_icalendar() -> None:
    rows = [
        booking("Adaeze; Okafor, the one with a very long name that needs folding over lines"),
        booking("Bisi"),
    ]
    now = datetime(2031, 1, 1, 12, tzinfo=UTC)
    text = to_ics(rows, {SERVICE: "Braids"}, {STAFF: "Kemi"}, host="smeflow.test", now=now)
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # every line ends in CRLF
    physical = text.split("\r\n")[:-1]
    assert all(len(line.encode()) <= 75 for line in physical)
    # unfold (RFC 5545 §3.1) and read the content lines
    lines = text.replace("\r\n ", "").split("\r\n")[:-1]
    assert lines[0] == "BEGIN:VCALENDAR"
    assert lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines
    assert any(line.startswith("PRODID:") for line in lines)
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == 2
    first = lines[lines.index("BEGIN:VEVENT") + 1 : lines.index("END:VEVENT")]
    props = dict(line.split(":", 1) for line in first)
    assert props["UID"] == f"{rows[0].id}@smeflow.test"
    assert props["DTSTAMP"] == "20310101T120000Z"
    assert (props["DTSTART"], props["DTEND"]) == ("20310131T233000Z", "20310131T235900Z")
    assert (
        props["SUMMARY"]
        == "Braids: Adaeze\\; Okafor\\, the one with a very long name that needs folding over lines"
    )
    assert props["STATUS"] == "CONFIRMED"
