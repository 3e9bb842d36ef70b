"""Checking a person's answers to a form against its fields. Pure code: no database, no I/O.

:func:`check_answers` reports *every* problem at once, each a :class:`FieldProblem` at
``answers.<name>`` (or deeper: ``answers.<name>.url``), and returns the answers normalised: one
key per field in the form's order, ``None`` for an optional question left unanswered. A missing
key, ``null``, a blank text and an empty choice list all count as no answer. Unknown keys are
refused. What each field type accepts (and how it is stored):

* ``short_text`` / ``long_text``: text of at most 300 / 5,000 characters (stored trimmed).
* ``email``: an email address (``email-validator``, no DNS lookup; stored normalised).
* ``phone``: E.164, ``+`` then 8 to 15 digits, the first not 0; spaces and hyphens are ignored
  (stored as ``+254712345678``).
* ``number``: a number within the field's ``min``..``max``.
* ``money``: integer minor units >= 0 in the field's currency, or ``{"amount", "currency"}``
  (required when the field names no currency); ``min``/``max`` are minor units too (stored as
  ``{"amount": 150000, "currency": "KES"}``).
* ``date`` / ``time`` / ``datetime``: ISO 8601 (``2025-06-01``, ``09:30``,
  ``2025-06-01T09:30:00+03:00``); a datetime must carry its UTC offset (stored in ISO form).
* ``single_choice`` / ``multiple_choice``: one of the options / a list of distinct options.
* ``consent``: true or false; a required consent must be true.
* ``rating``: a whole number within ``min``..``max`` (1..5 unless the field says otherwise).
* ``file``: ``{"name", "content_type", "size", "url"}``.
* ``address``: ``{"text"}`` plus optional ``lat`` and ``lng`` (both or neither, in range).
* ``national_id``: ``{"country": "KE" | "NG" | "ZA", "kind", "number"}`` (below).
* ``url``: an ``http://`` or ``https://`` address.

National ids: Nigeria ``bvn`` and ``nin`` are 11 digits; Kenya ``national_id`` is 7 or 8 digits and
``kra_pin`` is a KRA PIN (``A`` for persons or ``P`` for companies, 9 digits, a letter:
``A123456789Z``); South Africa ``national_id`` is 13 digits starting with a real birth date
(YYMMDD) and ending with a Luhn check digit.

Limits of this first version: phone numbers are checked for their E.164 shape only (the channels
work adds country-aware parsing, so a local ``0712 345 678`` can be read with the tenant's
country); a ``file`` answer *describes* a file already stored elsewhere (no upload storage yet).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from smeflow.engine.definitions._nodes import FormField
from smeflow.errors import FieldProblem, ValidationFailed

SHORT_TEXT_MAX = 300
LONG_TEXT_MAX = 5000
URL_MAX = 2000
FILE_NAME_MAX = 255
ADDRESS_MAX = 1000
RATING_RANGE = (1, 5)

_PHONE = re.compile(r"\+[1-9][0-9]{7,14}")
_PHONE_SEPARATORS = re.compile(r"[ \t\-]")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*", re.ASCII)
_CURRENCY = re.compile(r"[A-Z]{3}")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_KRA_PIN = re.compile(r"[AP][0-9]{9}[A-Z]", re.ASCII)
_ID_SEPARATORS = re.compile(r"[ \t\-]")

#: Which kinds of national id each country has.
NATIONAL_ID_KINDS: Mapping[str, tuple[str, ...]] = {
    "KE": ("national_id", "kra_pin"),
    "NG": ("bvn", "nin"),
    "ZA": ("national_id",),
}


class _Invalid(Exception):
    """One problem with one answer (raised by the per-type checks, collected by check_answers)."""

    def __init__(self, message: str, code: str = "invalid", where: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.where = message, code, where


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _in_range(value: float, low: float | None, high: float | None, unit: str = "") -> None:
    if low is not None and value < low:
        raise _Invalid(f"must be at least {_number_text(low)}{unit}", "out_of_range")
    if high is not None and value > high:
        raise _Invalid(f"must be at most {_number_text(high)}{unit}", "out_of_range")


def _text(limit: int) -> Callable[[FormField, Any], Any]:
    def check(field: FormField, value: Any) -> str:
        if not isinstance(value, str):
            raise _Invalid("must be text", "type")
        text = value.strip()
        if len(text) > limit:
            raise _Invalid(f"must be at most {limit:,} characters (it has {len(text):,})", "too_long")
        return text

    return check


def _email(field: FormField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be an email address", "type")
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise _Invalid(f"is not a valid email address: {exc}") from None


def _phone(field: FormField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a phone number written as text, such as +254712345678", "type")
    number = _PHONE_SEPARATORS.sub("", value.strip())
    if not _PHONE.fullmatch(number):
        raise _Invalid(
            "must be a phone number in international form: + and the country code, then the number "
            "(8 to 15 digits in all), such as +254712345678"
        )
    return number


def _number(field: FormField, value: Any) -> int | float:
    if not _is_number(value) or not math.isfinite(value):
        raise _Invalid("must be a number", "type")
    _in_range(value, field.min, field.max)
    return value  # type: ignore[no-any-return]


def _money(field: FormField, value: Any) -> dict[str, Any]:
    currency = field.currency
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"amount", "currency"})
        if unknown:
            raise _Invalid("is not part of a money answer", "unknown_field", unknown[0])
        amount, given = value.get("amount"), value.get("currency")
        if given is None and currency is None:
            raise _Invalid('says no currency: give one, such as "KES"', "required", "currency")
        if given is not None:
            if not isinstance(given, str) or not _CURRENCY.fullmatch(given):
                raise _Invalid('must be an ISO 4217 currency code, such as "KES"', "invalid", "currency")
            if currency is not None and given != currency:
                raise _Invalid(
                    f"must be {currency}, the currency this question asks for", "invalid", "currency"
                )
            currency = given
        where = "amount"
    else:
        amount, where = value, ""
        if currency is None:
            raise _Invalid('must say its currency: {"amount": <minor units>, "currency": "KES"}', "type")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise _Invalid(
            f"must be a whole number of minor units (KES 15.00 is 1500), not {amount!r}", "type", where
        )
    if amount < 0:
        raise _Invalid("must not be negative", "out_of_range", where)
    try:
        _in_range(amount, field.min, field.max, " minor units")
    except _Invalid as exc:
        exc.where = where
        raise
    return {"amount": amount, "currency": currency}


def _date(field: FormField, value: Any) -> str:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise _Invalid("must be a date such as 2025-06-01 (year-month-day)")


def _time(field: FormField, value: Any) -> str:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise _Invalid("must be a time of day such as 09:30 (24-hour clock)")


def _datetime(field: FormField, value: Any) -> str:
    moment = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(value.strip())
    if moment is None:
        raise _Invalid("must be a date and time such as 2025-06-01T09:30:00+03:00")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Invalid("must say its UTC offset, such as 2025-06-01T09:30:00+03:00 (or …Z for UTC)")
    return moment.isoformat()


def _options_text(options: Sequence[str]) -> str:
    shown = ", ".join(repr(option) for option in options[:10])
    return shown + (", …" if len(options) > 10 else "")


def _single_choice(field: FormField, value: Any) -> str:
    options = field.options or []
    if not isinstance(value, str) or value not in options:
        raise _Invalid(f"must be one of {_options_text(options)}", "not_an_option")
    return value


def _multiple_choice(field: FormField, value: Any) -> list[str]:
    options = field.options or []
    if not isinstance(value, list):
        raise _Invalid("must be a list of options", "type")
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in options:
            raise _Invalid(f"must be one of {_options_text(options)}", "not_an_option", f"[{index}]")
        if item in seen:
            raise _Invalid(f"{item!r} is chosen twice", "invalid", f"[{index}]")
        seen.add(item)
    return list(value)


def _consent(field: FormField, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true (agreed) or false (not agreed)", "type")
    if field.required and not value:
        raise _Invalid("must be agreed to (true) to go on", "required")
    return value


def _rating(field: FormField, value: Any) -> int:
    if _is_number(value) and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid("must be a whole number", "type")
    low = field.min if field.min is not None else RATING_RANGE[0]
    high = field.max if field.max is not None else RATING_RANGE[1]
    if not low <= value <= high:
        raise _Invalid(f"must be from {_number_text(low)} to {_number_text(high)}", "out_of_range")
    return value


def _web_address(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a web address such as https://example.com", "type")
    text = value.strip()
    if len(text) > URL_MAX:
        raise _Invalid(f"must be at most {URL_MAX:,} characters", "too_long")
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https"):
        raise _Invalid("must be an http:// or https:// address")
    if not host or any(char.isspace() for char in text):
        raise _Invalid("must be a web address such as https://example.com")
    return text


def _url(field: FormField, value: Any) -> str:
    return _web_address(value)


def _object(value: Any, required: Sequence[str], optional: Sequence[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        keys = ", ".join(f'"{key}"' for key in (*required, *optional))
        raise _Invalid(f"must be an object with {keys}", "type")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        raise _Invalid(f"is not part of {what}", "unknown_field", unknown[0])
    for key in required:
        if value.get(key) is None:
            raise _Invalid("is needed", "required", key)
    return value


def _file(field: FormField, value: Any) -> dict[str, Any]:
    given = _object(value, ("name", "content_type", "size", "url"), (), "a file answer")
    name, content_type, size = given["name"], given["content_type"], given["size"]
    if not isinstance(name, str) or not name.strip():
        raise _Invalid("must be the file's name", "type", "name")
    if len(name) > FILE_NAME_MAX:
        raise _Invalid(f"must be at most {FILE_NAME_MAX} characters", "too_long", "name")
    if not isinstance(content_type, str) or not _CONTENT_TYPE.fullmatch(content_type.strip()):
        raise _Invalid(
            "must be a media type such as image/jpeg or application/pdf", "invalid", "content_type"
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _Invalid("must be the file's size in bytes (a whole number, 0 or more)", "invalid", "size")
    try:
        url = _web_address(given["url"])
    except _Invalid as exc:
        exc.where = "url"
        raise
    return {"name": name.strip(), "content_type": content_type.strip().lower(), "size": size, "url": url}


def _address(field: FormField, value: Any) -> dict[str, Any]:
    given = _object(value, ("text",), ("lat", "lng"), "an address")
    text = given["text"]
    if not isinstance(text, str) or not text.strip():
        raise _Invalid("must be the address written out", "type", "text")
    if len(text.strip()) > ADDRESS_MAX:
        raise _Invalid(f"must be at most {ADDRESS_MAX:,} characters", "too_long", "text")
    answer: dict[str, Any] = {"text": text.strip()}
    lat, lng = given.get("lat"), given.get("lng")
    if (lat is None) != (lng is None):
        raise _Invalid("give both lat and lng, or neither", "required", "lng" if lng is None else "lat")
    for key, coordinate, limit in (("lat", lat, 90), ("lng", lng, 180)):
        if coordinate is None:
            continue
        if not _is_number(coordinate) or not math.isfinite(coordinate):
            raise _Invalid("must be a number of degrees", "type", key)
        if not -limit <= coordinate <= limit:
            raise _Invalid(f"must be from -{limit} to {limit} degrees", "out_of_range", key)
        answer[key] = coordinate
    return answer


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits ends with its Luhn check digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return bool(digits) and total % 10 == 0


def _birth_date_exists(yymmdd: str) -> bool:
    year, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    for century in (1900, 2000):
        try:
            date(century + year, month, day)
        except ValueError:
            continue
        return True
    return False


def national_id_problem(country: str, kind: str, number: str) -> str | None:
    """Why ``number`` is not a valid ``kind`` of national id of ``country`` (``None``: it is)."""
    if kind not in NATIONAL_ID_KINDS.get(country, ()):
        return f"is not a kind of id of {country}"
    if country == "NG":
        name = "BVN" if kind == "bvn" else "NIN"
        return None if _DIGITS.fullmatch(number) and len(number) == 11 else f"a {name} is 11 digits"
    if country == "KE" and kind == "national_id":
        digits = _DIGITS.fullmatch(number) is not None and 7 <= len(number) <= 8
        return None if digits else "a Kenyan national id is 7 or 8 digits"
    if country == "KE":
        return (
            None
            if _KRA_PIN.fullmatch(number)
            else "a KRA PIN is A or P, 9 digits and a letter, such as A123456789Z"
        )
    if not (_DIGITS.fullmatch(number) and len(number) == 13):
        return "a South African id number is 13 digits"
    if not _birth_date_exists(number[:6]):
        return "a South African id number starts with a birth date (YYMMDD); this one does not"
    if not luhn_valid(number):
        return "this South African id number's check digit is wrong (a digit may be mistyped)"
    return None


def _national_id(field: FormField, value: Any) -> dict[str, Any]:
    given = _object(value, ("country", "kind", "number"), (), "a national id answer")
    country, kind, number = given["country"], given["kind"], given["number"]
    if not isinstance(country, str) or country.strip().upper() not in NATIONAL_ID_KINDS:
        raise _Invalid("must be KE, NG or ZA", "invalid", "country")
    country = country.strip().upper()
    kinds = NATIONAL_ID_KINDS[country]
    if not isinstance(kind, str) or kind.strip().lower() not in kinds:
        raise _Invalid(f"must be one of {', '.join(kinds)} for {country}", "invalid", "kind")
    kind = kind.strip().lower()
    if not isinstance(number, str):
        raise _Invalid("must be written as text (an id may start with 0)", "type", "number")
    cleaned = _ID_SEPARATORS.sub("", number).upper()
    problem = national_id_problem(country, kind, cleaned)
    if problem is not None:
        raise _Invalid(problem, "invalid", "number")
    return {"country": country, "kind": kind, "number": cleaned}


_CHECKS: Mapping[str, Callable[[FormField, Any], Any]] = {
    "short_text": _text(SHORT_TEXT_MAX),
    "long_text": _text(LONG_TEXT_MAX),
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


def _unanswered(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def check_answers(fields: Sequence[FormField], answers: Any, *, path: str = "answers") -> dict[str, Any]:
    """``answers`` checked against the form's ``fields`` and normalised (see the module docstring);
    :class:`ValidationFailed` listing every problem (fields ``answers.<name>…``) otherwise."""
    if not isinstance(answers, dict):
        raise ValidationFailed(
            "The answers must be an object: question name → answer",
            fields=[FieldProblem(path, "must be an object: question name → answer", "type")],
        )
    problems: list[FieldProblem] = []
    labels: list[str] = []
    known = {field.name for field in fields}
    for key in answers:
        if key not in known:
            problems.append(FieldProblem(f"{path}.{key}", "is not a question of this form", "unknown_field"))
            labels.append(f"{key} (not a question of this form)")
    checked: dict[str, Any] = {}
    for field in fields:
        value = answers.get(field.name)
        where = f"{path}.{field.name}"
        if _unanswered(value):
            checked[field.name] = None
            if field.required:
                problems.append(FieldProblem(where, "needs an answer", "required"))
                labels.append(f"{field.label} (needs an answer)")
            continue
        try:
            checked[field.name] = _CHECKS[field.type](field, value)
        except _Invalid as exc:
            inner = exc.where if exc.where.startswith("[") or not exc.where else f".{exc.where}"
            problems.append(FieldProblem(where + inner, exc.message, exc.code))
            named = f"{exc.where} " if exc.where and not exc.where.startswith("[") else ""
            labels.append(f"{field.label} ({named}{exc.message})")
    if problems:
        raise ValidationFailed("Check these answers: " + "; ".join(labels), fields=problems)
    return checked


__all__ = ["NATIONAL_ID_KINDS", "check_answers", "luhn_valid", "national_id_problem"]
