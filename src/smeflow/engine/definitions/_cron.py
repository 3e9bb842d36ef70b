"""Schedules: five-field cron expressions and IANA time zones, checked without new dependencies.

Cron syntax (as in Vixie cron): ``minute hour day-of-month month day-of-week``; each field is
``*``, a value, a range ``a-b``, any of these with a step ``/n``, or a comma-separated list of
them. Months accept ``JAN`` to ``DEC`` and days of week ``SUN`` to ``SAT`` (``0`` and ``7`` are both
Sunday). The macros ``@hourly``, ``@daily``, ``@midnight``, ``@weekly``, ``@monthly``,
``@yearly`` and ``@annually`` are accepted too. A schedule that can never fire (``0 0 30 2 *``:
February has no 30th) is refused.

Fire times (:func:`next_fire`, :func:`latest_fire`) are the instants at which the wall clock of
the schedule's time zone shows a matching minute. Around a daylight-saving change (most African
zones have none; Africa/Cairo and Africa/Casablanca do, Europe/London too):

* a wall-clock time that happens twice (clocks go back) fires once, at its first occurrence;
* a wall-clock time that never happens (clocks go forward) fires once, shifted forward by the
  gap (``30 2 * * *`` on a day clocks jump from 02:00 to 03:00 fires at 03:30), as Python's
  ``zoneinfo`` reads such a time (PEP 495, ``fold=0``);
* a shifted time that lands on another fire time of the schedule fires once.
"""

from __future__ import annotations

import calendar
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_start: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 7, _WEEKDAYS, 0),
)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """The values a parsed cron expression allows in each field (day of week 0 to 6, Sunday = 0).

    ``day_of_month_any`` / ``day_of_week_any`` record a ``*`` there: cron matches a day when
    *either* restricted day field matches, and only the restricted one when the other is ``*``.
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    day_of_month_any: bool
    day_of_week_any: bool


def _value(text: str, field: _Field) -> int:
    upper = text.upper()
    if upper in field.names:
        return field.names.index(upper) + field.names_start
    if not text.isdigit():
        raise ValueError(f"{field.name}: {text!r} is not a number")
    number = int(text)
    if not field.low <= number <= field.high:
        raise ValueError(f"{field.name}: {number} is outside {field.low}-{field.high}")
    return number


def _part(text: str, field: _Field) -> set[int]:
    base, slash, step_text = text.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(f"{field.name}: step {step_text!r} must be a whole number above zero")
        step = int(step_text)
    if base == "*":
        low, high = field.low, field.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, field), _value(last, field)
        if low > high:
            raise ValueError(f"{field.name}: range {base!r} runs backwards")
    else:
        low = _value(base, field)
        high = field.high if slash else low
    return set(range(low, high + 1, step))


def parse_cron(text: str) -> CronSchedule:
    """Parse a five-field cron expression (or a macro); ``ValueError`` with a readable reason if invalid."""
    expanded = _MACROS.get(text.strip().lower(), text)
    parts = expanded.split()
    if len(parts) != 5:
        raise ValueError(
            f"{text!r} has {len(parts)} fields; cron needs 5: minute hour day-of-month month day-of-week"
        )
    values: list[frozenset[int]] = []
    for part, field in zip(parts, _FIELDS, strict=True):
        allowed: set[int] = set()
        for item in part.split(","):
            if not item:
                raise ValueError(f"{field.name}: empty item in {part!r}")
            allowed |= _part(item, field)
        values.append(frozenset(allowed))
    schedule = CronSchedule(
        minutes=values[0],
        hours=values[1],
        days_of_month=values[2],
        months=values[3],
        days_of_week=frozenset(0 if d == 7 else d for d in values[4]),
        day_of_month_any=parts[2] == "*",
        day_of_week_any=parts[4] == "*",
    )
    if not _ever_fires(schedule):
        raise ValueError(f"{text!r} never fires: none of the months given has those days of the month")
    return schedule


def _ever_fires(schedule: CronSchedule) -> bool:
    if schedule.day_of_month_any or not schedule.day_of_week_any:
        return True  # every day, or (day-of-month OR day-of-week) with some weekday in every month
    longest = {month: calendar.monthrange(2024, month)[1] for month in schedule.months}  # a leap year
    return any(day <= longest[month] for month in schedule.months for day in schedule.days_of_month)


def _day_matches(schedule: CronSchedule, day: date) -> bool:
    if day.month not in schedule.months:
        return False
    in_month = day.day in schedule.days_of_month
    in_week = (day.isoweekday() % 7) in schedule.days_of_week  # cron: Sunday = 0
    if schedule.day_of_month_any:
        return in_week
    if schedule.day_of_week_any:
        return in_month
    return in_month or in_week


# A daylight-saving change moves a wall-clock time by less than this (the largest is 2 h).
_SHIFT = timedelta(hours=3)


def _instants(
    schedule: CronSchedule, zone: tzinfo, day: date, low: datetime, high: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """``(wall-clock time, UTC instant)`` of each time the schedule fires on local date ``day``
    (see the module docstring for daylight-saving changes), in wall-clock order, leaving out
    wall-clock times (naive) outside ``[low, high]``.

    Instants follow wall-clock order except across a gap, and then by less than :data:`_SHIFT`:
    a wall-clock time more than ``_SHIFT`` after another always fires after it."""
    if not _day_matches(schedule, day):
        return
    midnight = datetime.combine(day, time(0))
    offset = zone.utcoffset(midnight)
    steady = offset is not None and offset == zone.utcoffset(midnight + timedelta(days=1))
    first = max(0, _minute_of_day(low, midnight))
    last = min(24 * 60 - 1, _minute_of_day(high, midnight, up=False))
    minutes = sorted(schedule.minutes)
    for hour in sorted(schedule.hours):
        if hour * 60 + 59 < first:
            continue
        for minute in minutes:
            at = hour * 60 + minute
            if at > last:
                return
            if at < first:
                continue
            wall = midnight + timedelta(minutes=at)
            if steady:  # no change of offset that day: the common case, and cheap
                yield wall, (wall - offset).replace(tzinfo=UTC)  # type: ignore[operator]
            else:
                yield wall, wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first occurrence


def _minute_of_day(wall: datetime, midnight: datetime, *, up: bool = True) -> int:
    """Minutes from ``midnight`` to ``wall`` (rounded up, or down), clamped to a few days."""
    if wall - midnight > timedelta(days=2):
        return 3 * 24 * 60
    if midnight - wall > timedelta(days=2):
        return -3 * 24 * 60
    seconds = (wall - midnight).total_seconds()
    return int(-(-seconds // 60)) if up else int(seconds // 60)


# Feb 29 on a Monday comes back within 28 years; nothing else a valid schedule allows is rarer.
_MAX_DAYS = 366 * 29


def next_fire(schedule: CronSchedule, zone: tzinfo, after: datetime) -> datetime:
    """The first instant (UTC) strictly after ``after`` (timezone-aware) at which ``schedule``
    fires in ``zone``."""
    wall = after.astimezone(zone).replace(tzinfo=None)
    low, high = wall - _SHIFT, datetime.max
    start = low.date()
    best: datetime | None = None
    for offset in range(_MAX_DAYS):
        day = start + timedelta(days=offset)
        for when, instant in _instants(schedule, zone, day, low, high):
            if when > high:
                break
            if instant > after and (best is None or instant < best):
                best = instant
                high = min(high, when + _SHIFT)  # nothing later on the wall clock can come first
        if best is not None and day >= high.date():
            return best
    raise ValueError("the schedule never fires")  # parse_cron refuses such schedules


def latest_fire(schedule: CronSchedule, zone: tzinfo, since: datetime, until: datetime) -> datetime | None:
    """The last instant (UTC) in ``[since, until]`` at which ``schedule`` fires in ``zone``, or
    ``None`` if it does not fire in that span."""
    if until < since:
        return None
    low = since.astimezone(zone).replace(tzinfo=None) - _SHIFT
    high = until.astimezone(zone).replace(tzinfo=None) + _SHIFT
    day = high.date()
    best: datetime | None = None
    best_wall: datetime | None = None
    while day >= low.date():
        for when, instant in _instants(schedule, zone, day, low, high):
            if since <= instant <= until and (best is None or instant > best):
                best, best_wall = instant, when
        if best_wall is not None:
            low = max(low, best_wall - _SHIFT)  # nothing earlier on the wall clock can come last
        day -= timedelta(days=1)
    return best


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})


def is_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone known to this system (``Africa/Nairobi``, ``UTC``)."""
    return name in _zones()


def time_zone(name: str) -> tzinfo:
    """The IANA time zone ``name`` (``ValueError`` if unknown)."""
    if not is_timezone(name):
        raise ValueError(f"{name!r} is not an IANA time zone")
    return zoneinfo.ZoneInfo(name)
