"""Money, numbers, dates, times and lists written the way the customer's locale writes them.

Digits are always Latin (``0-9``), also in Arabic and Amharic: customers type numbers back
(menu choices, amounts), and Latin digits are what every phone keypad sends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError, dates, lists, numbers

from smeflow.core.locales import currency_decimals, is_currency
from smeflow.core.money import EXPONENTS, to_major
from smeflow.i18n._languages import DEFAULT_LANGUAGE, normalize_language

DateFormat = Literal["short", "medium", "long", "full"]
ListStyle = Literal["standard", "or"]

_LONE_MINUTE = re.compile(r"(?<!m)m(?!m)")


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag)
    except (UnknownLocaleError, ValueError):
        return None


@cache
def locale_for(language: str, country: str | None = None) -> Locale:
    """The babel locale for ``language`` in ``country``: ``("sw", "KE")`` → ``sw_KE``.

    Falls back to the language alone (``("yo", "KE")`` → ``yo``), then to English.
    """
    code = normalize_language(language)
    candidates = [f"{code}_{country.upper()}"] if country else []
    candidates += [code, DEFAULT_LANGUAGE]
    for tag in candidates:
        locale = _parse(tag)
        if locale is not None:
            return locale
    raise AssertionError("babel always knows English")  # pragma: no cover


def _zone(tz: str) -> tzinfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{tz!r} is not an IANA time zone") from None


def _aware(moment: datetime, tz: str | None) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a naive datetime cannot be shown to a customer: give it a time zone")
    if tz is None:
        raise ValueError("say in which time zone (tz) to show the datetime")
    return moment.astimezone(_zone(tz))


def _minor_digits(currency: str) -> int:
    if currency in EXPONENTS:
        return EXPONENTS[currency]
    if is_currency(currency):
        return currency_decimals(currency)
    raise ValueError(f"{currency!r} is not an ISO 4217 currency")


def format_money(amount_minor: int, currency: str, language: str, country: str | None = None) -> str:
    """``(150000, "KES", "sw", "KE")`` → ``"Ksh 1,500.00"``: integer minor units, in the locale's way.

    Shows exactly as many decimals as the currency has (none for UGX, RWF, XOF).
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise ValueError("an amount of money is a whole number of minor units")
    digits = _minor_digits(currency)
    major = (
        to_major(amount_minor, currency) if currency in EXPONENTS else Decimal(amount_minor).scaleb(-digits)
    )
    locale = locale_for(language, country)
    pattern = numbers.parse_pattern(locale.currency_formats["standard"].pattern)
    pattern.frac_prec = (digits, digits)
    text = str(pattern.apply(major, locale, currency=currency, currency_digits=False))
    symbol = _local_symbol(currency, locale, country)
    return text.replace(currency, symbol) if symbol else text


def _local_symbol(currency: str, locale: Locale, country: str | None) -> str | None:
    """The symbol a country's English locale uses where the customer's locale only has the code.

    CLDR gives Nigerian Pidgin no naira sign (``NGN1,500.00``); ``en_NG`` knows it is ``₦``.
    """
    if not country or locale.currency_symbols.get(currency, currency) != currency:
        return None
    english = _parse(f"{DEFAULT_LANGUAGE}_{country.upper()}")
    if english is None:
        return None
    symbol = english.currency_symbols.get(currency, currency)
    return symbol if symbol != currency else None


def format_number(value: int | Decimal, language: str, country: str | None = None) -> str:
    """``1234567`` → ``"1,234,567"`` (en) or ``"1 234 567"`` (fr): grouping and decimal mark."""
    return numbers.format_decimal(value, locale=locale_for(language, country))


def _time_pattern(locale: Locale, format: DateFormat) -> str:
    # Some CLDR locales (Yoruba in babel 2.18) write minutes unpadded ("H:m" → "9:5").
    return _LONE_MINUTE.sub("mm", locale.time_formats[format].pattern)


def format_date(
    d: date,
    language: str,
    country: str | None = None,
    format: DateFormat = "medium",
    *,
    tz: str | None = None,
) -> str:
    """``date(2026, 3, 7)`` → ``"7 Mar 2026"`` (en_KE). A datetime must be aware and come with ``tz``."""
    if isinstance(d, datetime):
        d = _aware(d, tz).date()
    return dates.format_date(d, format=format, locale=locale_for(language, country))


def format_time(
    t_or_dt: time | datetime,
    language: str,
    country: str | None = None,
    tz: str | None = None,
    format: DateFormat = "short",
) -> str:
    """A wall-clock ``time`` as it is, or an aware ``datetime`` shown in ``tz`` (required for it)."""
    locale = locale_for(language, country)
    if isinstance(t_or_dt, datetime):
        moment = _aware(t_or_dt, tz)
        return dates.format_time(moment, _time_pattern(locale, format), tzinfo=moment.tzinfo, locale=locale)
    return dates.format_time(t_or_dt, _time_pattern(locale, format), locale=locale)


def format_datetime(
    dt: datetime,
    tz: str,
    language: str,
    country: str | None = None,
    date_format: DateFormat = "medium",
    time_format: DateFormat = "short",
) -> str:
    """An aware ``datetime`` shown in IANA time zone ``tz``: ``"7 Mar 2026, 09:05"`` (en_KE).

    Naive datetimes are refused with ``ValueError``: they could be any time.
    """
    moment = _aware(dt, tz)
    locale = locale_for(language, country)
    day = dates.format_date(moment.date(), format=date_format, locale=locale)
    clock = dates.format_time(moment, _time_pattern(locale, time_format), tzinfo=moment.tzinfo, locale=locale)
    joiner = str(locale.datetime_formats[date_format])
    return joiner.replace("{1}", day).replace("{0}", clock).replace("'", "")


def format_list(
    items: Sequence[str],
    language: str,
    country: str | None = None,
    style: ListStyle = "standard",
) -> str:
    """``["a", "b", "c"]`` → ``"a, b and c"`` (en), ``"a, b na c"`` (sw); ``style="or"`` for choices."""
    return lists.format_list(list(items), style=style, locale=locale_for(language, country))


__all__ = [
    "DateFormat",
    "ListStyle",
    "format_date",
    "format_datetime",
    "format_list",
    "format_money",
    "format_number",
    "format_time",
    "locale_for",
]
