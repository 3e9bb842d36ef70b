"""Schedules: five-field cron expressions and IANA time zones, checked without new dependencies.

Cron syntax (as in Vixie cron): ``minute hour day-of-month month day-of-week``; each field is
``*``, a value, a range ``a-b``, any of these with a step ``/n``, or a comma-separated list of
them. Months accept ``JAN`` to ``DEC`` and days of week ``SUN`` to ``SAT`` (``0`` and ``7`` are both
Sunday). The macros ``@hourly``, ``@daily``, ``@midnight``, ``@weekly``, ``@monthly``,
``@yearly`` and ``@annually`` are accepted too.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
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
    return CronSchedule(
        minutes=values[0],
        hours=values[1],
        days_of_month=values[2],
        months=values[3],
        days_of_week=frozenset(0 if d == 7 else d for d in values[4]),
        day_of_month_any=parts[2] == "*",
        day_of_week_any=parts[4] == "*",
    )


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})


def is_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone known to this system (``Africa/Nairobi``, ``UTC``)."""
    return name in _zones()
