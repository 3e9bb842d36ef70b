"""What reading one typed answer gives: :class:`Accepted` (the engine's value) or
:class:`Rejected` (a catalog message in the customer's language), and the engine check both
paths end in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import JsonValue

from smeflow.channels.forms._words import say
from smeflow.engine.definitions import FormField, check_answers
from smeflow.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class Accepted:
    """A typed answer read as ``value``: the engine's normalised JSON value for the field
    (``None`` for an optional question left blank)."""

    value: JsonValue


@dataclass(frozen=True, slots=True)
class Rejected:
    """A typed answer that could not be read: ``message`` (in the customer's language) says
    why, ``key`` is the catalog key it came from."""

    message: str
    key: str


Parsed = Accepted | Rejected
"""What :func:`parse_answer` returns."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One answer being read: the question, the customer's language and country, the tenant's
    time zone, the current time and what the message carried."""

    field: FormField
    language: str
    country: str | None
    timezone: str
    now: datetime
    attachment: Mapping[str, Any] | None

    def reject(self, key: str, **values: Any) -> Rejected:
        """Catalog message ``key`` in the customer's language, as a :class:`Rejected`."""
        return Rejected(say(key, self.language, **values), key)


def engine_value(ctx: Reading, value: Any, key: str, **values: Any) -> Parsed:
    """``value`` checked (and normalised) by the engine; its refusal becomes catalog ``key``."""
    try:
        checked = check_answers([ctx.field], {ctx.field.name: value})
    except ValidationFailed:
        return ctx.reject(key, **values)
    result: JsonValue = checked[ctx.field.name]
    return Accepted(result)


__all__ = ["Accepted", "Parsed", "Reading", "Rejected", "engine_value"]
