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
from datetime import datetime
from typing import Any

import phonenumbers

from smeflow.channels.forms._choices import parse_choice, parse_choices
from smeflow.channels.forms._examples import number_text, phone_example
from smeflow.channels.forms._moments import parse_date, parse_datetime, parse_time
from smeflow.channels.forms._numbers import parse_money, parse_number
from smeflow.channels.forms._reading import Accepted, Parsed, Reading, engine_value
from smeflow.engine.definitions import NATIONAL_ID_KINDS, FormField
from smeflow.i18n import format_list, is_no, is_yes
from smeflow.understanding import extract_slots

RATING_DEFAULT = (1, 5)
_LAT_LNG = re.compile(r"\s*(-?\d{1,3}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*")
_STARS = re.compile(r"[⭐★✩☆\ufe0f\s]+")
_RATING = re.compile(
    r"\s*(\d{1,3})\s*(?:/\s*(\d{1,3}))?\s*(?:stars?|nyota|taurari|irawo|kpakpando)?\s*", re.I
)
_DOMAIN = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}(?:[/?#:]\S*)?", re.I)
_HAS_TEXT = re.compile(r"\w")
_ID_SEPARATORS = re.compile(r"[\s\-./]")
_ID_HINTS = {"bvn": "bvn", "nin": "nin", "kra": "kra_pin", "pin": "kra_pin"}
_ID_NAMES = {"bvn": "BVN", "nin": "NIN", "kra_pin": "KRA PIN", "national_id": "ID"}
_WHATSAPP_LOCATION = ("latitude", "longitude")


def _text(ctx: Reading, text: str) -> Parsed:
    limit = 300 if ctx.field.type == "short_text" else 5000
    if len(text) > limit:
        return ctx.reject("form.too_long", max=number_text(limit, ctx.language, ctx.country))
    if not _HAS_TEXT.search(text):
        return ctx.reject("form.invalid_text")
    return engine_value(ctx, text, "form.invalid_text")


def _email(ctx: Reading, text: str) -> Parsed:
    candidate = text
    if " " in text:
        found = extract_slots(
            text, language=ctx.language, country=ctx.country, timezone=ctx.timezone, now=ctx.now,
            default_currency=None,
        ).emails  # fmt: skip
        candidate = found[0] if len(found) == 1 else text
    return engine_value(ctx, candidate, "form.invalid_email")


def _phone(ctx: Reading, text: str) -> Parsed:
    example = phone_example(ctx.country, ctx.language)
    found = extract_slots(
        text, language=ctx.language, country=ctx.country, timezone=ctx.timezone, now=ctx.now,
        default_currency=None,
    ).phones  # fmt: skip
    if len(found) != 1:
        digits = re.sub(r"[\s().-]", "", text)
        if not (digits.isascii() and digits.isdigit() and len(digits) > 9):
            return ctx.reject("form.invalid_phone", example=example)
        try:  # 254712345678: the country code without its "+"
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return ctx.reject("form.invalid_phone", example=example)
        if not phonenumbers.is_valid_number(number):
            return ctx.reject("form.invalid_phone", example=example)
        found = (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),)
    return engine_value(ctx, found[0], "form.invalid_phone", example=example)


def _single_choice(ctx: Reading, text: str) -> Parsed:
    options = ctx.field.options or []
    chosen = parse_choice(text, options)
    if chosen is None:
        return ctx.reject("form.invalid_choice", options=_options_text(options, ctx.language))
    return engine_value(ctx, chosen, "form.invalid_choice", options=_options_text(options, ctx.language))


def _multiple_choice(ctx: Reading, text: str) -> Parsed:
    options = ctx.field.options or []
    chosen = parse_choices(text, options, ctx.language)
    if chosen is None:
        return ctx.reject("form.invalid_choices", options=_options_text(options, ctx.language))
    return engine_value(ctx, chosen, "form.invalid_choices", options=_options_text(options, ctx.language))


def _options_text(options: list[str], language: str) -> str:
    """The options named in a problem message: numbered labels for a few, the range for many."""
    if len(options) > 6:
        return f"1-{len(options)}"
    return format_list([f"{index}. {label}" for index, label in enumerate(options, 1)], language, style="or")


def _consent(ctx: Reading, text: str) -> Parsed:
    stripped = text.strip()
    if stripped == "1" or is_yes(stripped, ctx.language):
        return Accepted(True)
    if stripped == "2" or is_no(stripped, ctx.language):
        if ctx.field.required:
            return ctx.reject("form.consent_required")
        return Accepted(False)
    return ctx.reject("confirm.yes_no")


def _rating(ctx: Reading, text: str) -> Parsed:
    low = int(ctx.field.min) if ctx.field.min is not None else RATING_DEFAULT[0]
    high = int(ctx.field.max) if ctx.field.max is not None else RATING_DEFAULT[1]
    limits = {
        "min": number_text(low, ctx.language, ctx.country),
        "max": number_text(high, ctx.language, ctx.country),
    }
    refused = ctx.reject("form.invalid_rating", **limits)
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
    return engine_value(ctx, value, "form.invalid_rating", **limits)


def _file(ctx: Reading, text: str) -> Parsed:
    if ctx.attachment is None:
        return ctx.reject("form.file_required")
    return engine_value(ctx, dict(ctx.attachment), "form.file_required")


def _address(ctx: Reading, text: str) -> Parsed:
    attachment = ctx.attachment
    if attachment is not None and all(key in attachment for key in _WHATSAPP_LOCATION):
        # A WhatsApp location message: latitude, longitude and perhaps a name and an address.
        words = [str(attachment[key]) for key in ("name", "address") if attachment.get(key)]
        lat, lng = attachment["latitude"], attachment["longitude"]
        label = ", ".join(words) or text.strip() or f"{lat},{lng}"
        return engine_value(ctx, {"text": label, "lat": lat, "lng": lng}, "form.invalid_location")
    stripped = text.strip()
    if match := _LAT_LNG.fullmatch(stripped):
        lat, lng = float(match[1]), float(match[2])
        return engine_value(ctx, {"text": stripped, "lat": lat, "lng": lng}, "form.invalid_location")
    if not _HAS_TEXT.search(stripped) or len(stripped) > 1000:
        return ctx.reject("form.invalid_location")
    return engine_value(ctx, {"text": stripped}, "form.invalid_location")


def _id_kind(ctx: Reading, text: str, number: str) -> tuple[str, str]:
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


def _national_id(ctx: Reading, text: str) -> Parsed:
    words = re.sub(r"(?i)\b(bvn|nin|kra\s*pin|kra|pin|id|no|number)\b[:.]?", " ", text)
    number = _ID_SEPARATORS.sub("", words).upper()
    country, kind = _id_kind(ctx, text, number)
    value = {"country": country, "kind": kind, "number": number}
    return engine_value(ctx, value, "form.invalid_id", id_name=_ID_NAMES[kind])


def _url(ctx: Reading, text: str) -> Parsed:
    stripped = text.strip()
    if "://" not in stripped and _DOMAIN.fullmatch(stripped):
        stripped = "https://" + stripped  # "example.com": people rarely type the scheme
    return engine_value(ctx, stripped, "form.invalid_url")


_PARSERS: Mapping[str, Callable[[Reading, str], Parsed]] = {
    "short_text": _text,
    "long_text": _text,
    "email": _email,
    "phone": _phone,
    "number": parse_number,
    "money": parse_money,
    "date": parse_date,
    "time": parse_time,
    "datetime": parse_datetime,
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
    ctx = Reading(field, language, country, timezone, now, attachment)
    if not text.strip() and not (attachment is not None and field.type in ("file", "address")):
        if field.required:
            return ctx.reject("form.file_required" if field.type == "file" else "form.required")
        return Accepted(None)
    return _PARSERS[field.type](ctx, text.strip())


__all__ = ["RATING_DEFAULT", "parse_answer"]
