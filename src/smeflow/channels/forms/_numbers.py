"""Numbers and money typed by customers: grouping and decimal marks the locale's way, amounts
as integer minor units (never floats, never rounded)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from babel.numbers import get_decimal_symbol

from smeflow.channels.forms._examples import amount_example, number_text
from smeflow.channels.forms._reading import Parsed, Reading, engine_value
from smeflow.core.locales import COUNTRY_DEFAULTS, currency_decimals
from smeflow.i18n import format_money, locale_for
from smeflow.understanding import extract_slots


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


def _range_values(ctx: Reading, show: Callable[[float], str]) -> dict[str, str]:
    low, high = ctx.field.min, ctx.field.max
    return {"min": show(low) if low is not None else "-∞", "max": show(high) if high is not None else "∞"}


def parse_number(ctx: Reading, text: str) -> Parsed:
    """A number within the field's ``min``..``max`` (an ``int`` when whole)."""
    value = read_number(text, ctx.language, ctx.country)
    if value is None:
        return ctx.reject("form.invalid_number")
    number: int | float = int(value) if value == value.to_integral_value() else float(value)
    low, high = ctx.field.min, ctx.field.max
    if (low is not None and number < low) or (high is not None and number > high):
        return ctx.reject(
            "form.number_range", **_range_values(ctx, lambda v: number_text(v, ctx.language, ctx.country))
        )
    return engine_value(ctx, number, "form.invalid_number")


def parse_money(ctx: Reading, text: str) -> Parsed:
    """An amount as ``{"amount": <minor units>, "currency"}``: with a currency word or sign
    ("Ksh 1,500", "₦5,000") or bare in the field's currency (else the country's); ``min``
    and ``max`` are minor units."""
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
    return engine_value(ctx, {"amount": minor, "currency": currency}, "form.invalid_amount", example=example)


__all__ = ["parse_money", "parse_number", "read_number"]
