"""Durations: a positive number of seconds, or an ISO-8601 duration string such as ``PT15M``.

Only fixed-length units are accepted: weeks, days, hours, minutes, seconds (``P1W``, ``P2DT3H``,
``PT1.5S``). Years and months have no fixed length, so ``P1M`` is refused (write ``P30D``).
At most ten years (``P3650D``).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

MAX_DURATION_SECONDS = 3650 * 86400.0

_ISO = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)
_CALENDAR = re.compile(r"P(?:\d+Y)|P(?:[^T]*\d+M)")
_UNIT_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def parse_iso_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration (``"PT1H30M"`` → ``5400.0``); ``ValueError`` if it is not one."""
    match = _ISO.fullmatch(text)
    if match is None or text in ("P", "") or text.endswith("T"):
        if _CALENDAR.match(text):
            raise ValueError(f"{text!r}: years and months have no fixed length; use weeks or days (P30D)")
        raise ValueError(f"{text!r} is not an ISO-8601 duration such as PT15M, PT1H30M or P2D")
    seconds = sum(
        float(part.replace(",", ".")) * _UNIT_SECONDS[unit]
        for unit, part in match.groupdict().items()
        if part is not None
    )
    return seconds


def duration_seconds(value: float | str) -> float:
    """Seconds in a duration as stored in a definition (a number of seconds or an ISO-8601 string)."""
    return parse_iso_duration(value) if isinstance(value, str) else float(value)


def _validate(value: Any) -> float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError(
            "invalid_duration", "a duration is a number of seconds or an ISO-8601 string such as PT15M"
        )
    try:
        seconds = duration_seconds(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_duration", "{error}", {"error": str(exc)}) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise PydanticCustomError("invalid_duration", "a duration must be longer than zero")
    if seconds > MAX_DURATION_SECONDS:
        raise PydanticCustomError("invalid_duration", "a duration may be at most ten years (P3650D)")
    return value


#: A duration field: kept as written (so a definition round-trips), read with :func:`duration_seconds`.
Duration = Annotated[
    float | str,
    PlainValidator(_validate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^P(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+([.,]\d+)?S)?)?$"},
            ]
        }
    ),
]
