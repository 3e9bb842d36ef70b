"""Reading a typed answer to one form question: free text in, the engine's JSON value out.

:func:`parse_answer` turns what a customer typed on WhatsApp, SMS or USSD into exactly the value
a web form would send for that field type, then runs it through the engine's own
:func:`~smeflow.engine.definitions.check_answers`, so a value it accepts is one the engine
accepts (and the stored value is the engine's normalised one). A problem comes back as a message
in the customer's language from the ``form.*`` catalog keys, with examples written the way their
locale writes dates, times, money and phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel.numbers import get_decimal_symbol
from pydantic import JsonValue

from smeflow.channels.forms._choices import parse_choice, parse_choices
from smeflow.channels.forms._examples import (
    amount_example,
    date_example,
    datetime_example,
    number_text,
    phone_example,
)
from smeflow.channels.forms._words import say
from smeflow.core.locales import COUNTRY_DEFAULTS, currency_decimals
from smeflow.engine.definitions import NATIONAL_ID_KINDS, FormField, check_answers
from smeflow.errors import ValidationFailed
from smeflow.i18n import format_list, format_money, format_time, is_no, is_yes, locale_for
from smeflow.understanding import extract_slots, find_datetimes

RATING_DEFAULT = (1, 5)
_LAT_LNG = re.compile(r"\s*(-?\d{1,3}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*")
_STARS = re.compile(r"[⭐★✩☆\ufe0f\s]+")
_RATING = re.compile(
    r"\s*(\d{1,3})\s*(?:/\s*(\d{1,3}))?\s*(?:stars?|nyota|taurari|irawo|kpakpando)?\s*", re.I
)
_DOMAIN = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}(?:[/?#:]\S*)?", re.I)
_MIDNIGHT = re.compile(r"(?<!\d)0?0[:.h]?00(?!\d)|\b12\s*a\.?m\b|midnight|usiku wa manane", re.I)
_HAS_TEXT = re.compile(r"\w")
_ID_SEPARATORS = re.compile(r"[\s\-./]")
_ID_HINTS = {"bvn": "bvn", "nin": "nin", "kra": "kra_pin", "pin": "kra_pin"}
_ID_NAMES = {"bvn": "BVN", "nin": "NIN", "kra_pin": "KRA PIN", "national_id": "ID"}
_WHATSAPP_LOCATION = ("latitude", "longitude")


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


@dataclass(frozen=True, slots=True)
class _Context:
    field: FormField
    language: str
    country: str | None
    timezone: str
    now: datetime
    attachment: Mapping[str, Any] | None

    def reject(self, key: str, **values: Any) -> Rejected:
        return Rejected(say(key, self.language, **values), key)


class _Refused(Exception):
    def __init__(self, rejected: Rejected) -> None:
        super().__init__(rejected.message)
        self.rejected = rejected


def _engine(ctx: _Context, value: Any, key: str, **values: Any) -> Parsed:
    """``value`` checked (and normalised) by the engine; its refusal becomes catalog ``key``."""
    try:
        checked = check_answers([ctx.field], {ctx.field.name: value})
    except ValidationFailed:
        return ctx.reject(key, **values)
    result: JsonValue = checked[ctx.field.name]
    return Accepted(result)


def _text(ctx: _Context, text: str) -> Parsed:
    limit = 300 if ctx.field.type == "short_text" else 5000
    if len(text) > limit:
        return ctx.reject("form.too_long", max=number_text(limit, ctx.language, ctx.country))
    if not _HAS_TEXT.search(text):
        return ctx.reject("form.invalid_text")
    return _engine(ctx, text, "form.invalid_text")


def _email(ctx: _Context, text: str) -> Parsed:
    candidate = text
    if " " in text:
        found = extract_slots(
            text, language=ctx.language, country=ctx.country, timezone=ctx.timezone, now=ctx.now,
            default_currency=None,
        ).emails  # fmt: skip
        candidate = found[0] if len(found) == 1 else text
    return _engine(ctx, candidate, "form.invalid_email")


def _phone(ctx: _Context, text: str) -> Parsed:
    example = phone_example(ctx.country, ctx.language)
    found = extract_slots(
        text, language=ctx.language, country=ctx.country, timezone=ctx.timezone, now=ctx.now,
        default_currency=None,
    ).phones  # fmt: skip
    if len(found) != 1:
        digits = re.sub(r"[\s().-]", "", text)
        if not (digits.isdigit() and len(digits) > 9):
            return ctx.reject("form.invalid_phone", example=example)
        try:  # 254712345678: the country code without its "+"
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return ctx.reject("form.invalid_phone", example=example)
        if not phonenumbers.is_valid_number(number):
            return ctx.reject("form.invalid_phone", example=example)
        found = (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),)
    return _engine(ctx, found[0], "form.invalid_phone", example=example)


def read_number(text: str, language: str, country: str | None = None) -> Decimal | None:
    """A number as the customer wrote it: ``1,500`` / ``1 500`` / ``2.5`` / ``2,5`` (French).

    With both ``,`` and ``.`` the last one is the decimal mark. A single mark followed by exactly
    three digits groups thousands unless it is the locale's decimal mark; a repeated mark groups
    thousands. Groups after the first must be three digits; anything else is not a number.
    """
    match = re.fullmatch(r"([+-]?)(\d[\d\s.,]*)", text.strip().replace("\u2212", "-"))
    if match is None:
        return None
    sign, body = match[1], re.sub(r"(?<=\d)\s(?=\d{3}(?!\d))", "", match[2])
    if re.search(r"\s|[.,]$", body):
        return None
    marks = set(re.findall(r"[.,]", body))
    decimal: str | None = None
    group: str | None = None
    if len(marks) == 2:
        decimal = body[max(body.rfind(","), body.rfind("."))]
        group = "," if decimal == "." else "."
    elif marks:
        mark = marks.pop()
        grouping = len(body.split(mark)[1]) == 3 and mark != get_decimal_symbol(locale_for(language, country))
        if body.count(mark) > 1 or grouping:
            group = mark
        else:
            decimal = mark
    whole, _, fraction = body.partition(decimal) if decimal else (body, "", "")
    groups = whole.split(group) if group else [whole]
    if not 1 <= len(groups[0]) <= (3 if len(groups) > 1 else 30) or any(len(g) != 3 for g in groups[1:]):
        return None
    if (decimal and not fraction.isdigit()) or not all(g.isdigit() for g in groups):
        return None
    value = Decimal("".join(groups) + (f".{fraction}" if fraction else ""))
    return -value if sign == "-" else value


def _range_values(ctx: _Context, show: Callable[[float], str]) -> dict[str, str]:
    low, high = ctx.field.min, ctx.field.max
    return {"min": show(low) if low is not None else "-∞", "max": show(high) if high is not None else "∞"}


def _number(ctx: _Context, text: str) -> Parsed:
    value = read_number(text, ctx.language, ctx.country)
    if value is None:
        return ctx.reject("form.invalid_number")
    number: int | float = int(value) if value == value.to_integral_value() else float(value)
    low, high = ctx.field.min, ctx.field.max
    if (low is not None and number < low) or (high is not None and number > high):
        return ctx.reject(
            "form.number_range", **_range_values(ctx, lambda v: number_text(v, ctx.language, ctx.country))
        )
    return _engine(ctx, number, "form.invalid_number")


def _money(ctx: _Context, text: str) -> Parsed:
    default = ctx.field.currency or (
        COUNTRY_DEFAULTS[ctx.country].currency if ctx.country in COUNTRY_DEFAULTS else None
    )
    currency = ctx.field.currency
    example = amount_example(currency or default or "USD", ctx.language, ctx.country)
    refused = ctx.reject("form.invalid_amount", example=example)
    amounts = extract_slots(
        text, language=ctx.language, country=ctx.country, timezone=ctx.timezone, now=ctx.now,
        default_currency=default,
    ).amounts  # fmt: skip
    if len(amounts) > 1 or (amounts and currency is not None and amounts[0].currency != currency):
        return refused
    if amounts:
        minor, currency = amounts[0].minor, amounts[0].currency
    else:
        value = read_number(text, ctx.language, ctx.country)
        currency = currency or default
        if value is None or currency is None or value < 0:
            return refused
        scaled = value.scaleb(currency_decimals(currency))
        if scaled != scaled.to_integral_value():
            return refused  # more decimals than the currency has: never rounded
        minor = int(scaled)
    low, high = ctx.field.min, ctx.field.max
    if (low is not None and minor < low) or (high is not None and minor > high):
        code = currency
        return ctx.reject(
            "form.number_range",
            **_range_values(ctx, lambda v: format_money(int(v), code, ctx.language, ctx.country)),
        )
    return _engine(ctx, {"amount": minor, "currency": currency}, "form.invalid_amount", example=example)


def _moment(ctx: _Context, text: str, *, need_time: bool = False) -> datetime | None:
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


def _date(ctx: _Context, text: str) -> Parsed:
    example = date_example(ctx.language, ctx.country, ctx.now, ctx.timezone)
    moment = _moment(ctx, text)
    if moment is None or (_says_a_time(moment, text) and not re.search(r"\d[/.-]\d|\d{4}", text)):
        return ctx.reject("form.invalid_date", example=example)
    return _engine(ctx, moment.date().isoformat(), "form.invalid_date", example=example)


def _time(ctx: _Context, text: str) -> Parsed:
    example = format_time(time(9, 30), ctx.language, ctx.country)
    stripped = text.strip()
    try:
        return _engine(ctx, time.fromisoformat(stripped).isoformat(), "form.invalid_time", example=example)
    except ValueError:
        pass
    moment = _moment(ctx, text, need_time=True)
    if moment is None or not _says_a_time(moment, text):
        return ctx.reject("form.invalid_time", example=example)
    return _engine(ctx, moment.time().replace(tzinfo=None).isoformat(), "form.invalid_time", example=example)


def _datetime(ctx: _Context, text: str) -> Parsed:
    example = datetime_example(ctx.language, ctx.country, ctx.now, ctx.timezone)
    moment = _moment(ctx, text, need_time=True)
    if moment is None or not _says_a_time(moment, text):
        return ctx.reject("form.invalid_datetime", example=example)
    return _engine(ctx, moment.isoformat(), "form.invalid_datetime", example=example)


def _single_choice(ctx: _Context, text: str) -> Parsed:
    options = ctx.field.options or []
    chosen = parse_choice(text, options)
    if chosen is None:
        return ctx.reject("form.invalid_choice", options=_options_text(options, ctx.language))
    return _engine(ctx, chosen, "form.invalid_choice", options=_options_text(options, ctx.language))


def _multiple_choice(ctx: _Context, text: str) -> Parsed:
    options = ctx.field.options or []
    chosen = parse_choices(text, options, ctx.language)
    if chosen is None:
        return ctx.reject("form.invalid_choices", options=_options_text(options, ctx.language))
    return _engine(ctx, chosen, "form.invalid_choices", options=_options_text(options, ctx.language))


def _options_text(options: list[str], language: str) -> str:
    """The options named in a problem message: numbered labels for a few, the range for many."""
    if len(options) > 6:
        return f"1-{len(options)}"
    return format_list([f"{index}. {label}" for index, label in enumerate(options, 1)], language, style="or")


def _consent(ctx: _Context, text: str) -> Parsed:
    stripped = text.strip()
    if stripped == "1" or is_yes(stripped, ctx.language):
        return Accepted(True)
    if stripped == "2" or is_no(stripped, ctx.language):
        if ctx.field.required:
            return ctx.reject("form.consent_required")
        return Accepted(False)
    return ctx.reject("confirm.yes_no")


def _rating(ctx: _Context, text: str) -> Parsed:
    low = int(ctx.field.min) if ctx.field.min is not None else RATING_DEFAULT[0]
    high = int(ctx.field.max) if ctx.field.max is not None else RATING_DEFAULT[1]
    refused = ctx.reject(
        "form.invalid_rating",
        min=number_text(low, ctx.language, ctx.country),
        max=number_text(high, ctx.language, ctx.country),
    )
    stripped = text.strip()
    value: int | None = None
    if stripped and _STARS.fullmatch(stripped):
        value = sum(1 for char in stripped if char in "⭐★")
    elif match := _RATING.fullmatch(stripped):
        value = int(match[1])
        if match[2] is not None and int(match[2]) != high:
            return refused  # "8/10" on a 1-5 scale: not guessed
    if value is None or not low <= value <= high:
        return refused
    return _engine(ctx, value, "form.invalid_rating", min=str(low), max=str(high))


def _file(ctx: _Context, text: str) -> Parsed:
    if ctx.attachment is None:
        return ctx.reject("form.file_required")
    return _engine(ctx, dict(ctx.attachment), "form.file_required")


def _address(ctx: _Context, text: str) -> Parsed:
    attachment = ctx.attachment
    if attachment is not None and all(key in attachment for key in _WHATSAPP_LOCATION):
        # A WhatsApp location message: latitude, longitude and perhaps a name and an address.
        words = [str(attachment[key]) for key in ("name", "address") if attachment.get(key)]
        lat, lng = attachment["latitude"], attachment["longitude"]
        label = ", ".join(words) or text.strip() or f"{lat},{lng}"
        return _engine(ctx, {"text": label, "lat": lat, "lng": lng}, "form.invalid_location")
    stripped = text.strip()
    if match := _LAT_LNG.fullmatch(stripped):
        lat, lng = float(match[1]), float(match[2])
        return _engine(ctx, {"text": stripped, "lat": lat, "lng": lng}, "form.invalid_location")
    if not _HAS_TEXT.search(stripped) or len(stripped) > 1000:
        return ctx.reject("form.invalid_location")
    return _engine(ctx, {"text": stripped}, "form.invalid_location")


def _id_kind(ctx: _Context, text: str, number: str) -> tuple[str, str]:
    """The country and kind of id meant: the text's own hint (BVN, NIN, KRA), else the field's
    name and label, else the number's shape, in the tenant's country when it has national ids."""
    hints = re.findall(r"[a-z]+", f"{text} {ctx.field.name} {ctx.field.label}".casefold())
    hinted = next((_ID_HINTS[word] for word in hints if word in _ID_HINTS), None)
    if hinted in ("bvn", "nin"):
        return "NG", hinted
    if hinted == "kra_pin" or re.fullmatch(r"[AP]\d{9}[A-Z]", number):
        return "KE", "kra_pin"
    country = ctx.country if ctx.country in NATIONAL_ID_KINDS else None
    if country is None:
        country = {13: "ZA", 11: "NG"}.get(len(number), "KE")
    return country, NATIONAL_ID_KINDS[country][0] if country != "NG" else "nin"


def _national_id(ctx: _Context, text: str) -> Parsed:
    words = re.sub(r"(?i)\b(bvn|nin|kra\s*pin|kra|pin|id|no|number)\b[:.]?", " ", text)
    number = _ID_SEPARATORS.sub("", words).upper()
    country, kind = _id_kind(ctx, text, number)
    value = {"country": country, "kind": kind, "number": number}
    return _engine(ctx, value, "form.invalid_id", id_name=_ID_NAMES[kind])


def _url(ctx: _Context, text: str) -> Parsed:
    stripped = text.strip()
    if "://" not in stripped and _DOMAIN.fullmatch(stripped):
        stripped = "https://" + stripped  # "example.com": people rarely type the scheme
    return _engine(ctx, stripped, "form.invalid_url")


_PARSERS: Mapping[str, Callable[[_Context, str], Parsed]] = {
    "short_text": _text,
    "long_text": _text,
    "email": _email,
    "phone": _phone,
    "number": _number,
    "money": _money,
    "date": _date,
    "time": _time,
    "datetime": _datetime,
    "single_choice": _single_choice,
    "multiple_choice": _multiple_choice,
    "consent": _consent,
    "rating": _rating,
    "file": _file,
    "address": _address,
    "national_id": _national_id,
    "url": _url,
}


def parse_answer(
    field: FormField,
    text: str,
    *,
    language: str,
    country: str | None,
    timezone: str,
    now: datetime,
    attachment: Mapping[str, Any] | None = None,
) -> Parsed:
    """What the customer typed (``text``, plus an ``attachment`` for files and shared locations)
    as the engine's JSON value for ``field``, or the problem in ``language``.

    ``country`` (ISO 3166) reads local phone numbers, national ids and bare amounts;
    ``timezone`` (IANA) and the aware ``now`` read relative dates ("kesho", "tomorrow 3pm").
    A blank answer is :class:`Accepted` ``None`` for an optional question and
    ``form.required`` for a required one (except a file question answered with an attachment).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ctx = _Context(field, language, country, timezone, now, attachment)
    if not text.strip() and not (attachment is not None and field.type in ("file", "address")):
        if field.required:
            return ctx.reject("form.file_required" if field.type == "file" else "form.required")
        return Accepted(None)
    return _PARSERS[field.type](ctx, text.strip())


__all__ = ["Accepted", "Parsed", "Rejected", "parse_answer", "read_number"]
