"""Free slots, computed from weekly local hours, breaks, time off and busy intervals (pure).

Key contracts:

* Weekly hours are local wall-clock times in the tenant's zone; each occurrence is turned into
  an aware instant with :mod:`zoneinfo` on its own date, so the offset in force that day (DST
  included) applies. An interval whose end is not after its start ends on the next local day
  (a 20:00-02:00 evening shift).
* All arithmetic after that is on absolute (UTC) instants, so a 60-minute service is 60 real
  minutes even across a DST change.
* A slot ``[start, start + duration)`` fits when it lies inside working time outside breaks and
  time off, starts no earlier than ``now``, and ``[start, start + duration + buffer)`` overlaps no
  busy interval (existing bookings with their own buffer): exactly what the database's exclusion
  constraint will accept. The buffer may run past closing time.
* Slots are reported on the local date they start on; candidates start at the beginning of each
  free stretch and every ``step`` after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class WeeklyInterval:
    """A local interval on a weekday (0 = Monday)."""

    weekday: int
    starts: time
    ends: time


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local dates, both ends included."""

    starts_on: date
    ends_on: date


@dataclass(frozen=True, slots=True)
class StaffWeek:
    """What availability needs to know of one staff member."""

    staff_id: uuid.UUID
    hours: Sequence[WeeklyInterval]
    breaks: Sequence[WeeklyInterval]
    time_off: Sequence[DateRange]
    busy: Sequence[Interval]


@dataclass(frozen=True, slots=True)
class Slot:
    """A bookable start for one staff member (aware UTC instants, and the local start)."""

    staff_id: uuid.UUID
    start_at: datetime
    end_at: datetime
    local_start: datetime
    local_end: datetime


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``at`` on ``day`` in ``zone``, as an aware UTC instant."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def occurrences(intervals: Iterable[WeeklyInterval], day: date, zone: ZoneInfo) -> list[Interval]:
    """The weekly intervals that begin on local ``day``, as UTC instants."""
    found = []
    for item in intervals:
        if item.weekday != day.weekday():
            continue
        end_day = day if item.ends > item.starts else day + timedelta(days=1)
        found.append((local_instant(day, item.starts, zone), local_instant(end_day, item.ends, zone)))
    return found


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(base: list[Interval], cuts: Iterable[Interval]) -> list[Interval]:
    result = base
    for cut_start, cut_end in _merge(cuts):
        pieces: list[Interval] = []
        for start, end in result:
            if cut_end <= start or cut_start >= end:
                pieces.append((start, end))
                continue
            if start < cut_start:
                pieces.append((start, cut_start))
            if cut_end < end:
                pieces.append((cut_end, end))
        result = pieces
    return result


def free_time(staff: StaffWeek, first: date, last: date, zone: ZoneInfo) -> list[Interval]:
    """The staff member's working time outside breaks and time off, for shifts that begin
    between the day before ``first`` and ``last`` (so a shift running past midnight into
    ``first`` counts), as UTC instants."""
    work: list[Interval] = []
    cuts: list[Interval] = []
    day = first - timedelta(days=1)
    while day <= last:
        work.extend(occurrences(staff.hours, day, zone))
        cuts.extend(occurrences(staff.breaks, day, zone))
        day += timedelta(days=1)
    for off in staff.time_off:
        cuts.append(
            (
                local_instant(off.starts_on, time(0), zone),
                local_instant(off.ends_on + timedelta(days=1), time(0), zone),
            )
        )
    return _subtract(_merge(work), cuts)


def _clear(start: datetime, blocked_until: datetime, busy: Sequence[Interval]) -> bool:
    return all(blocked_until <= b_start or start >= b_end for b_start, b_end in busy)


def slots(
    staff: StaffWeek,
    *,
    first: date,
    last: date,
    zone: ZoneInfo,
    duration: timedelta,
    buffer: timedelta,
    step: timedelta,
    now: datetime,
) -> list[Slot]:
    """Every free start for ``staff`` on local dates ``first`` … ``last``, in time order."""
    found = []
    for free_start, free_end in free_time(staff, first, last, zone):
        start = free_start
        while start + duration <= free_end:
            local = start.astimezone(zone)
            if (
                start >= now
                and first <= local.date() <= last
                and _clear(start, start + duration + buffer, staff.busy)
            ):
                end = start + duration
                found.append(Slot(staff.staff_id, start, end, local, end.astimezone(zone)))
            start += step
    return found


def fits(staff: StaffWeek, start: datetime, duration: timedelta, buffer: timedelta, zone: ZoneInfo) -> bool:
    """Whether a booking of ``staff`` may start at ``start`` (any minute, not only on a step)."""
    day = start.astimezone(zone).date()
    end = start + duration
    inside = any(s <= start and end <= e for s, e in free_time(staff, day, day, zone))
    return inside and _clear(start, end + buffer, staff.busy)


__all__ = [
    "DateRange",
    "Interval",
    "Slot",
    "StaffWeek",
    "WeeklyInterval",
    "fits",
    "free_time",
    "local_instant",
    "occurrences",
    "slots",
]
