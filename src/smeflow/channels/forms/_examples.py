"""Examples shown in problem messages and prompts, written the way the customer's locale writes
them: a date in their date format, money with their currency sign, a phone number as dialled
locally in the tenant's country."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import phonenumbers

from smeflow.core.locales import currency_decimals
from smeflow.i18n import format_date, format_money, format_number, format_time, locale_for

_EXAMPLE_AMOUNT = Decimal(1500)
_FALLBACK_PHONE = "+254712345678"


def phone_example(country: str | None, language: str) -> str:
    """A mobile number as dialled in ``country`` (``0712 123456`` in KE), else in E.164."""
    if country:
        number = phonenumbers.example_number_for_type(country.upper(), phonenumbers.PhoneNumberType.MOBILE)
        if number is not None:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return _FALLBACK_PHONE


def amount_example(currency: str, language: str, country: str | None) -> str:
    """1,500 of ``currency`` in the locale's way (``Ksh 1,500.00`` in sw_KE)."""
    minor = int(_EXAMPLE_AMOUNT.scaleb(currency_decimals(currency)))
    return format_money(minor, currency, language, country)


def date_example(language: str, country: str | None, now: datetime, timezone: str) -> str:
    """Tomorrow in the locale's short date format when it is written day first (``17/03/2026``),
    else in its medium format (``Mar 17, 2026``): the forms :func:`find_datetimes` reads back."""
    tomorrow = now.astimezone(ZoneInfo(timezone)).date() + timedelta(days=1)
    pattern = locale_for(language, country).date_formats["short"].pattern
    return format_date(tomorrow, language, country, "short" if pattern.startswith("d") else "medium")


def datetime_example(language: str, country: str | None, now: datetime, timezone: str) -> str:
    """Tomorrow at 09:30, written the locale's way (``18/03/2026 09:30``)."""
    return f"{date_example(language, country, now, timezone)} {format_time(time(9, 30), language, country)}"


def number_text(value: float, language: str, country: str | None) -> str:
    """``value`` with the locale's grouping and decimal mark (whole numbers without decimals)."""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        number = number.to_integral_value()
    return format_number(number, language, country)


__all__ = ["amount_example", "date_example", "datetime_example", "number_text", "phone_example"]
