"""Amounts of money in customer messages, as integer minor units plus an ISO 4217 code.

Recognised: a currency word or sign before or after a number ("KES 1,500", "Ksh1500",
"sh. 500", "1500/=", "1500 bob", "₦5,000", "N5000", "5k naira", "R250", "GH₵ 20", "$12.50",
"500 meticais", "200 birr"), with thousands separators (``,``, a space or a ``.`` before
exactly three digits) and ``k`` for thousands. A bare number counts only with a
``default_currency`` and a money word in the message ("nimetuma 1500", "I paid 2000"), and
never when it is part of a phone number, a date or a time. Amounts with more decimals than the
currency has (``babel.numbers.get_currency_precision``) are dropped, never rounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision

from smeflow.understanding._text import normalize

_SHILLINGS = frozenset({"KES", "UGX", "TZS", "SOS"})


@dataclass(frozen=True, slots=True)
class Amount:
    """``minor`` units (an ``int``, never a float) of ``currency`` (ISO 4217)."""

    minor: int
    currency: str


# Currency spellings → code; "SH" means the tenant's shilling (KES unless it uses another one).
_BEFORE = {
    "kes": "KES", "ksh": "KES", "kshs": "KES", "ksh.": "KES", "sh": "SH", "sh.": "SH", "shs": "SH",
    "shs.": "SH", "tsh": "TZS", "tzs": "TZS", "ugx": "UGX", "ngn": "NGN", "₦": "NGN", "n": "NGN",
    "zar": "ZAR", "r": "ZAR", "ghs": "GHS", "ghc": "GHS", "gh₵": "GHS", "gh¢": "GHS", "₵": "GHS", "¢": "GHS",
    "usd": "USD", "us$": "USD", "$": "USD", "eur": "EUR", "€": "EUR", "gbp": "GBP", "£": "GBP",
    "etb": "ETB", "br": "ETB", "mzn": "MZN", "mt": "MZN", "egp": "EGP", "mad": "MAD", "xof": "XOF",
    "cfa": "XOF", "fcfa": "XOF", "rwf": "RWF", "frw": "RWF", "zmw": "ZMW", "sos": "SOS",
}  # fmt: skip
_AFTER = {
    "bob": "KES", "/=": "SH", "shillings": "SH", "shilling": "SH", "shilingi": "SH", "kes": "KES",
    "ksh": "KES", "kshs": "KES", "naira": "NGN", "ngn": "NGN", "rand": "ZAR", "zar": "ZAR",
    "cedis": "GHS", "cedi": "GHS", "ghs": "GHS", "ugx": "UGX", "tzs": "TZS", "birr": "ETB", "ብር": "ETB",
    "etb": "ETB", "meticais": "MZN", "metical": "MZN", "mt": "MZN", "mzn": "MZN", "fcfa": "XOF",
    "cfa": "XOF", "francs": "XOF", "dollars": "USD", "dollar": "USD", "usd": "USD", "euros": "EUR",
    "euro": "EUR", "eur": "EUR", "dirhams": "MAD", "dirham": "MAD", "rwf": "RWF", "frw": "RWF",
    "kwacha": "ZMW", "sos": "SOS", "جنيه": "EGP", "درهم": "MAD",
}  # fmt: skip

_NUMBER = r"\d{1,3}(?:[,\s.]\d{3})+(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d{1,2})?(?!\d)"


def _alternation(words: dict[str, str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_MULTIPLIER = r"(?P<k>k\b|\s?(?:thousand|elfu|dubu|ẹgbẹ̀rún|puku|mille|mil)\b)?"
_WORD_CURRENCIES = _alternation({k: v for k, v in _BEFORE.items() if len(k) > 1})
_PREFIXED = re.compile(
    rf"(?<![\w$€£₦₵¢])(?P<cur>{_WORD_CURRENCIES}|[$€£₦₵¢])\s?\.?\s?(?P<num>{_NUMBER}){_MULTIPLIER}"
    rf"|(?<![\w])(?P<cur1>[RN])\s?(?P<num1>{_NUMBER}){_MULTIPLIER.replace('<k>', '<k1>')}",
    re.IGNORECASE,
)
_SUFFIXED = re.compile(
    rf"(?<![\w.,])(?P<num>{_NUMBER}){_MULTIPLIER}\s?(?P<cur>{_alternation(_AFTER)})(?![\w])",
    re.IGNORECASE,
)
_BARE = re.compile(
    rf"(?<![\w+.,:/-])(?P<num>{_NUMBER}){_MULTIPLIER}(?![\w:/%-]|\s?(?:am|pm|h)\b)", re.IGNORECASE
)
_MONEY_WORDS = re.compile(
    r"\b(pay|paid|payment|sent|send|deposit|balance|amount|price|cost|costs|charge|money|cash|"
    r"lipa|nimelipa|kulipa|nimetuma|tuma|pesa|bei|malipo|biya|kudi|kuɗi|owo|sanwo|ego|ugwo|imali|mali|"
    r"khokha|hlawula|geld|betaal|betaling|prys|argent|paye|payer|paiement|prix|dinheiro|pagar|paguei|"
    r"preco|lacag|bixiyay|مبلغ|المبلغ|دفعت|السعر|ገንዘብ|ብር)\b",
    re.IGNORECASE,
)


def _value(raw: str) -> Decimal | None:
    text = raw.replace(" ", "")
    # "1.500" / "1,500" with three digits after the mark: thousands; one or two: decimals.
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", text):
        text = re.sub(r"[.,]", "", text)
    elif re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+[.,]\d{1,2}", text):
        text = re.sub(r"[.,](?=\d{3})", "", text).replace(",", ".")
    else:
        text = text.replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _minor(value: Decimal, multiplied: bool, currency: str) -> int | None:
    if multiplied:
        value *= 1000
    precision = get_currency_precision(currency)
    scaled = value.scaleb(precision)
    if scaled != scaled.to_integral_value() or scaled < 0:
        return None  # more decimals than the currency has: not silently rounded
    return int(scaled)


def _resolve(code: str, default_currency: str | None) -> str:
    if code == "SH":
        return default_currency if default_currency in _SHILLINGS else "KES"
    if code == "XOF" and default_currency in ("XAF", "XOF"):
        return default_currency
    return code


def find_amounts(text: str, *, default_currency: str | None) -> tuple[Amount, ...]:
    """The amounts of money in ``text`` (see the module docstring for what counts)."""
    found: list[tuple[int, Amount]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, num: str, k: str | None, code: str) -> None:
        value = _value(num)
        if value is None:
            return
        currency = _resolve(code, default_currency)
        minor = _minor(value, bool(k), currency)
        if minor is not None:
            found.append((start, Amount(minor, currency)))
            taken.append((start, end))

    for m in _PREFIXED.finditer(text):
        if m["cur"] is not None:
            add(m.start(), m.end(), m["num"], m["k"], _BEFORE.get(m["cur"].casefold(), "USD"))
        elif m["cur1"].isupper() or text[m.start() + 1].isdigit():
            # "R 250" / "N 5000" as written; lower-case only attached ("r250"), never "n 5".
            add(m.start(), m.end(), m["num1"], m["k1"], _BEFORE[m["cur1"].casefold()])
    for m in _SUFFIXED.finditer(text):
        if not any(s <= m.start() < e for s, e in taken):
            add(m.start(), m.end(), m["num"], m["k"], _AFTER[m["cur"].casefold()])
    if not found and default_currency and _MONEY_WORDS.search(normalize(text) + " " + text.casefold()):
        for m in _BARE.finditer(text):
            digits = re.sub(r"\D", "", m["num"])
            if len(digits) < 2 or len(digits) > 9 or digits.startswith("0"):
                continue  # single digits are counts or hours; leading zeros are phone numbers
            add(m.start(), m.end(), m["num"], m["k"], default_currency)
    return tuple(a for _, a in sorted(found, key=lambda item: item[0]))


__all__ = ["Amount", "find_amounts"]
