"""The pure availability rules: shifts across midnight, breaks, time off, busy time with
buffers, steps and DST (Cairo moves its clocks forward at midnight on 25 April 2031)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import smeflow.bookings
from smeflow.bookings import TRANSITIONS
from smeflow.bookings._availability import DateRange, StaffWeek, WeeklyInterval, fits, free_time, slots
from smeflow.bookings.models import BOOKING_STATUSES

STAFF = uuid.UUID(int=1)
LAGOS = ZoneInfo("Africa/Lagos")
CAIRO = ZoneInfo("Africa/Cairo")
HOUR = timedelta(hours=1)
EARLY = datetime(2030, 1, 1, tzinfo=UTC)


def week(*hours: WeeklyInterval, breaks=(), time_off=(), busy=()) -> StaffWeek:  # type: ignore[no-untyped-def]
    return StaffWeek(STAFF, list(hours), list(breaks), list(time_off), list(busy))


def starts(found: list, zone: ZoneInfo) -> list[str]:  # type: ignore[type-arg]
    return [s.start_at.astimezone(zone).strftime("%m-%d %H:%M") for s in found]


def test_a_shift_past_midnight_counts_on_both_local_dates() -> None:
    friday = WeeklyInterval(4, time(20), time(2))  # 2031-01-31 is a Friday
    staff = week(friday)
    kw = {"zone": LAGOS, "duration": HOUR, "buffer": timedelta(0), "step": HOUR, "now": EARLY}
    jan31 = slots(staff, first=date(2031, 1, 31), last=date(2031, 1, 31), **kw)  # type: ignore[arg-type]
    feb1 = slots(staff, first=date(2031, 2, 1), last=date(2031, 2, 1), **kw)  # type: ignore[arg-type]
    assert starts(jan31, LAGOS) == ["01-31 20:00", "01-31 21:00", "01-31 22:00", "01-31 23:00"]
    assert starts(feb1, LAGOS) == ["02-01 00:00", "02-01 01:00"]
    # Lagos is UTC+1: the last slot starts at 00:00 UTC on 1 February
    assert feb1[-1].start_at == datetime(2031, 2, 1, 0, 0, tzinfo=UTC)
    assert feb1[-1].local_start.utcoffset() == HOUR


def test_breaks_time_off_busy_and_buffers_are_left_out() -> None:
    day = date(2031, 3, 3)  # a Monday
    zone = ZoneInfo("Africa/Nairobi")
    busy_from = datetime(2031, 3, 3, 13, 0, tzinfo=zone)
    staff = week(
        WeeklyInterval(0, time(9), time(17)),
        breaks=[WeeklyInterval(0, time(12), time(13))],
        busy=[(busy_from.astimezone(UTC), (busy_from + timedelta(minutes=90)).astimezone(UTC))],
    )
    found = slots(
        staff,
        first=day,
        last=day,
        zone=zone,
        duration=HOUR,
        buffer=timedelta(minutes=30),
        step=HOUR,
        now=EARLY,
    )
    # 11:00 ends as the break begins (its buffer may run into the break); 12:00 is the break;
    # 13:00 and 14:00 would overlap the booking busy until 14:30 (their own buffer included);
    # 16:00 ends at closing even though its buffer runs past it.
    assert starts(found, zone) == ["03-03 09:00", "03-03 10:00", "03-03 11:00", "03-03 15:00", "03-03 16:00"]
    off = week(WeeklyInterval(0, time(9), time(17)), time_off=[DateRange(day, day)])
    assert slots(off, first=day, last=day, zone=zone, duration=HOUR, buffer=HOUR, step=HOUR, now=EARLY) == []


def test_the_past_is_not_offered_and_steps_start_at_each_free_stretch() -> None:
    day = date(2031, 3, 3)
    staff = week(WeeklyInterval(0, time(9), time(11)))
    now = datetime(2031, 3, 3, 9, 20, tzinfo=LAGOS).astimezone(UTC)
    step = timedelta(minutes=30)
    found = slots(
        staff, first=day, last=day, zone=LAGOS, duration=HOUR, buffer=timedelta(0), step=step, now=now
    )
    assert starts(found, LAGOS) == ["03-03 09:30", "03-03 10:00"]


def test_dst_shift_lasts_real_hours() -> None:
    """In Cairo 00:00 on Friday 25 April 2031 becomes 01:00: a Thursday 22:00-03:00 shift is four
    real hours, and the slots say so in UTC and in local time."""
    staff = week(WeeklyInterval(3, time(22), time(3)))
    ((start, end),) = free_time(staff, date(2031, 4, 24), date(2031, 4, 24), CAIRO)
    assert end - start == 4 * HOUR
    found = slots(
        staff,
        first=date(2031, 4, 24),
        last=date(2031, 4, 25),
        zone=CAIRO,
        duration=HOUR,
        buffer=timedelta(0),
        step=HOUR,
        now=EARLY,
    )
    assert starts(found, CAIRO) == ["04-24 22:00", "04-24 23:00", "04-25 01:00", "04-25 02:00"]
    assert [s.local_start.utcoffset() for s in found] == [2 * HOUR, 2 * HOUR, 3 * HOUR, 3 * HOUR]


def test_fits_any_minute_inside_free_time() -> None:
    staff = week(WeeklyInterval(0, time(9), time(17)))
    at = datetime(2031, 3, 3, 9, 7, tzinfo=LAGOS).astimezone(UTC)
    assert fits(staff, at, HOUR, timedelta(0), LAGOS)
    late = datetime(2031, 3, 3, 16, 30, tzinfo=LAGOS).astimezone(UTC)
    assert not fits(staff, late, HOUR, timedelta(0), LAGOS)


def test_public_names_are_all() -> None:
    public = {name for name in vars(smeflow.bookings) if not name.startswith("_")}
    public -= {"models", "schemas", "service"}  # submodules
    assert public == set(smeflow.bookings.__all__)


def test_transitions_are_a_closed_table() -> None:
    assert set(TRANSITIONS) == set(BOOKING_STATUSES)
    assert all(targets <= set(BOOKING_STATUSES) for targets in TRANSITIONS.values())
    assert {s for s, targets in TRANSITIONS.items() if not targets} == {
        "completed",
        "cancelled",
        "no_show",
        "expired",
    }
