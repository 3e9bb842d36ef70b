"""Slots in a customer message: phone numbers, e-mail addresses, amounts, dates/times, names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import phonenumbers

from smeflow.understanding._amounts import Amount, find_amounts
from smeflow.understanding._names import find_names
from smeflow.understanding._when import find_datetimes

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
_HAS_DIGITS = re.compile(r"\d{5}|\d[\d\s().-]{6,}\d")


@dataclass(frozen=True, slots=True)
class Slots:
    """What :func:`extract_slots` found; every field is a tuple in order of appearance."""

    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    amounts: tuple[Amount, ...] = ()
    when: tuple[datetime, ...] = ()
    names: tuple[str, ...] = ()


def find_phones(text: str, country: str | None) -> tuple[str, ...]:
    """Valid phone numbers in ``text`` in E.164, national ones read in ``country`` (ISO 3166)."""
    if not _HAS_DIGITS.search(text):
        return ()
    out: list[str] = []
    region = country.upper() if country else None
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in out:
            out.append(e164)
    return tuple(out)


def find_emails(text: str) -> tuple[str, ...]:
    """E-mail addresses in ``text``, as written (domain lower-cased)."""
    out: list[str] = []
    for m in _EMAIL.finditer(text):
        local, _, domain = m.group().rpartition("@")
        email = f"{local}@{domain.lower()}"
        if email not in out:
            out.append(email)
    return tuple(out)


def extract_slots(
    text: str,
    *,
    language: str | None,
    country: str | None,
    timezone: str,
    now: datetime,
    default_currency: str | None,
) -> Slots:
    """Phones (E.164, ``country`` as default region), e-mails, amounts (integer minor units),
    date/times (aware, in ``timezone``, relative to the aware ``now``) and names in ``text``.

    ``language`` (ISO 639-1, ``pcm`` for Pidgin) picks the date rules; ``default_currency``
    is used for bare amounts in a message about money, and only then.
    """
    emails = find_emails(text)
    without_emails = _EMAIL.sub(" ", text)
    phones = find_phones(without_emails, country)
    return Slots(
        phones=phones,
        emails=emails,
        amounts=find_amounts(_strip_phones(without_emails), default_currency=default_currency),
        when=find_datetimes(_strip_phones(without_emails), language=language, timezone=timezone, now=now),
        names=find_names(without_emails),
    )


def _strip_phones(text: str) -> str:
    """``text`` with long digit runs (phone numbers) blanked, so they read as neither money nor time."""
    return re.sub(r"\+?\d[\d\s-]{8,}\d", " ", text)


__all__ = ["Slots", "extract_slots", "find_emails", "find_phones"]
