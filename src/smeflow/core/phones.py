"""Phone numbers: parsed with Google's libphonenumber (``phonenumbers``), kept in E.164.

Customers type ``0712 345 678``, ``254712345678`` or ``+2540712345678``; SMEFlow stores
``+254712345678`` and renders it per provider at the connector's edge (Daraja wants
``254712345678``, Africa's Talking ``+254712345678``).
"""

from __future__ import annotations

import phonenumbers


class PhoneError(ValueError):
    """Not a valid phone number."""


def to_e164(raw: str, region: str | None = None) -> str:
    """``raw`` as E.164 (``+254712345678``), read in ``region`` (ISO country) when it has no ``+``.

    Numbers written with the country code but no ``+`` (``254712345678``) are accepted too.
    """
    text = raw.strip()
    candidates = [text]
    if not text.startswith("+") and text.isdigit() and len(text) > 9:
        candidates.append("+" + text)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None if candidate.startswith("+") else region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    where = f" for {region}" if region else ""
    raise PhoneError(f"{raw!r} is not a valid phone number{where}")


def msisdn(e164: str) -> str:
    """E.164 without the ``+`` (``254712345678``), as Daraja and WhatsApp's ``wa_id`` write it."""
    return e164.removeprefix("+")


def region_of(e164: str) -> str | None:
    """The ISO country of an E.164 number (``+254…`` → ``KE``), or None."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


__all__ = ["PhoneError", "msisdn", "region_of", "to_e164"]
