"""Dates, times and date-times typed by customers ("kesho saa nne asubuhi", "tomorrow 3pm",
"25/12", ISO 8601), read in the tenant's time zone relative to *now* with
:func:`smeflow.understanding.find_datetimes`."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

from smeflow.channels.forms._examples import date_example, datetime_example
from smeflow.channels.forms._reading import Parsed, Reading, engine_value
from smeflow.i18n import format_time
from smeflow.understanding import find_datetimes

_MIDNIGHT = re.compile(r"(?<!\d)0?0[:.h]?00(?!\d)|\b12\s*a\.?m\b|midnight|usiku wa manane", re.I)


def _moment(ctx: Reading, text: str, *, need_time: bool = False) -> datetime | None:
    """The one date/time ``text`` names: ISO 8601 first (a naive one is in the tenant's zone),
    then :func:`find_datetimes` in the customer's language, then in all (code-switching:
    "kesho saa nne" in an English conversation), the latter also when ``need_time`` and the
    first reading found no clock time."""
    stripped = text.strip()
    zone = ZoneInfo(ctx.timezone)
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        parsed = None
    if parsed is not None:
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    best: datetime | None = None
    for language in (ctx.language, None):
        found = find_datetimes(stripped, language=language, timezone=ctx.timezone, now=ctx.now)
        if len(found) > 1:
            return None
        if found and (best is None or _says_a_time(found[0], stripped)):
            best = found[0]
        if best is not None and (not need_time or _says_a_time(best, stripped)):
            return best
    return best


def _says_a_time(moment: datetime, text: str) -> bool:
    """Whether ``moment``'s clock time was written (not the 00:00 of a bare day)."""
    return moment.time() != time(0, 0) or _MIDNIGHT.search(text) is not None or "T00:00" in text


def parse_date(ctx: Reading, text: str) -> Parsed:
    """A day ("kesho", "25/12", "2026-05-01") as ``YYYY-MM-DD``; a bare clock time is no date."""
    example = date_example(ctx.language, ctx.country, ctx.now, ctx.timezone)
    moment = _moment(ctx, text)
    if moment is None or (_says_a_time(moment, text) and not re.search(r"\d[/.-]\d|\d{4}", text)):
        return ctx.reject("form.invalid_date", example=example)
    return engine_value(ctx, moment.date().isoformat(), "form.invalid_date", example=example)


def parse_time(ctx: Reading, text: str) -> Parsed:
    """A clock time ("3pm", "15h30", "saa nne asubuhi") as ``HH:MM:SS``; a bare day is no time."""
    example = format_time(time(9, 30), ctx.language, ctx.country)
    stripped = text.strip()
    try:
        return engine_value(
            ctx, time.fromisoformat(stripped).isoformat(), "form.invalid_time", example=example
        )
    except ValueError:
        pass
    moment = _moment(ctx, text, need_time=True)
    if moment is None or not _says_a_time(moment, text):
        return ctx.reject("form.invalid_time", example=example)
    return engine_value(
        ctx, moment.time().replace(tzinfo=None).isoformat(), "form.invalid_time", example=example
    )


def parse_datetime(ctx: Reading, text: str) -> Parsed:
    """A day and a clock time as ISO 8601 with the tenant zone's UTC offset; both are needed."""
    example = datetime_example(ctx.language, ctx.country, ctx.now, ctx.timezone)
    moment = _moment(ctx, text, need_time=True)
    if moment is None or not _says_a_time(moment, text):
        return ctx.reject("form.invalid_datetime", example=example)
    return engine_value(ctx, moment.isoformat(), "form.invalid_datetime", example=example)


__all__ = ["parse_date", "parse_datetime", "parse_time"]
