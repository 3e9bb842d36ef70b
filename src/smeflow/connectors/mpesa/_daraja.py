"""Daraja's protocol rules, shared by the connector and its sandbox: the STK Password, Kenyan
timestamps, MSISDNs, shillings, result codes, and the error bodies mapped to typed errors."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from smeflow.connectors._errors import (
    AuthFailed,
    ConnectorError,
    InvalidResponse,
    RateLimited,
    Rejected,
    Unavailable,
)
from smeflow.core.money import MoneyError, from_major, to_major
from smeflow.core.phones import PhoneError, msisdn, to_e164

#: Kenya keeps East Africa Time all year (UTC+3, no daylight saving)
EAT = timezone(timedelta(hours=3), "EAT")
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
MSISDN = re.compile(r"^254(7\d{8}|1\d{8})$")
_KENYAN_MOBILE = re.compile(r"^\+254(7\d{8}|1\d{8})$")
#: Daraja's "Invalid Access Token" codes (STK page, C2B page): refresh the token and try once more
INVALID_TOKEN_CODES = frozenset({"404.001.03", "400.003.01"})

#: M-Pesa Express (STK) and B2C result codes, in words a tenant understands (protocols §1.5, §1.8)
RESULT_REASONS: dict[str, str] = {
    "0": "The payment was completed.",
    "1": "The customer's M-Pesa balance is insufficient.",
    "2": "The amount is below the minimum M-Pesa allows.",
    "3": "The amount is above the maximum M-Pesa allows per transaction.",
    "4": "The payment would exceed the customer's daily limit.",
    "8": "The payment would exceed the maximum account balance.",
    "11": "The paying account is not in a state that allows payments.",
    "17": "The same amount was requested from this customer within 2 minutes; M-Pesa refused it.",
    "21": "The initiator is not allowed to make this payment.",
    "1019": "The payment request expired before the customer answered.",
    "1025": "M-Pesa could not send the payment prompt (the account reference may be too long).",
    "1031": "The customer cancelled the payment.",
    "1032": "The customer cancelled the payment.",
    "1037": "The customer's phone could not be reached.",
    "2001": "The customer entered a wrong M-Pesa PIN.",
    "2006": "The recipient's account does not allow this payment.",
    "2028": "The shortcode is not permitted to make this kind of request.",
    "2040": "The recipient is not a registered M-Pesa customer.",
    "8006": "The security credential is locked.",
    "SFC_IC0003": "The operator does not exist.",
}


def result_reason(code: str, description: str | None = None) -> str:
    """A tenant-readable reason for a Daraja result code (its own description if we know none)."""
    known = RESULT_REASONS.get(code)
    if known is not None:
        return known
    return f"M-Pesa declined the request ({_clean(description) or 'code ' + code})."


def timestamp(now: datetime) -> str:
    """``now`` in Kenyan time as Daraja's ``YYYYMMDDHHmmss``."""
    return now.astimezone(EAT).strftime(TIMESTAMP_FORMAT)


def password(shortcode: str, passkey: str, stamp: str) -> str:
    """The STK ``Password``: base64 of shortcode + passkey + timestamp."""
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode()


def kenyan_msisdn(phone: str, field: str = "phone") -> str:
    """An E.164 Kenyan mobile number as Daraja writes it (``254712345678``), or :class:`Rejected`."""
    try:
        e164 = to_e164(phone, "KE")
    except PhoneError:
        raise Rejected(f"{field}: {phone!r} is not a valid phone number") from None
    if not _KENYAN_MOBILE.match(e164):
        raise Rejected(f"{field}: M-Pesa pays Kenyan mobile numbers only (+2547… or +2541…)")
    return msisdn(e164)


def phone_of(value: Any) -> str | None:
    """An MSISDN as Daraja sends it (a number, a string, possibly masked) as E.164, or None."""
    text = str(value).strip() if value is not None else ""
    if not text.isdigit():
        return None
    try:
        return to_e164(text, "KE")
    except PhoneError:
        return None


def whole_shillings(amount_minor: int, currency: str) -> int:
    """Cents of KES → whole shillings; other currencies and fractions are :class:`Rejected`."""
    if currency != "KES":
        raise Rejected(f"currency: M-Pesa takes KES only, not {currency!r}")
    shillings = to_major(amount_minor, "KES")
    if shillings != shillings.to_integral_value():
        raise Rejected(f"amount_minor: M-Pesa takes whole shillings only (KES {shillings} is not)")
    return int(shillings)


def minor_of(amount: Any) -> int:
    """A Daraja amount (``1``, ``1.00``, ``"5.00"``) in cents of KES, or :class:`InvalidResponse`."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str | Decimal):
        raise InvalidResponse("the M-Pesa amount is missing or not a number")
    try:
        return from_major(amount, "KES")
    except MoneyError:
        raise InvalidResponse("the M-Pesa amount is not an amount of KES") from None


def _clean(text: Any) -> str:
    """A provider's short message, safe to show: printable, at most 120 characters."""
    if not isinstance(text, str):
        return ""
    return "".join(ch for ch in text if ch.isprintable())[:120].strip()


def error_of(status: int, body: Any, *, what: str) -> ConnectorError:
    """The typed error for a Daraja error answer (``{"errorCode", "errorMessage"}`` or none)."""
    code = body.get("errorCode") if isinstance(body, dict) else None
    message = _clean(body.get("errorMessage")) if isinstance(body, dict) else ""
    code = str(code) if code is not None else None
    lowered = message.lower()
    said = f"{what}: M-Pesa said {message!r}" if message else f"{what}: M-Pesa answered {status}"
    if code in INVALID_TOKEN_CODES or code == "404.001.04" or status in (401, 403):
        return AuthFailed(f"{what}: M-Pesa refused the access token", provider_code=code)
    if code and code.startswith("400.008"):
        return AuthFailed(f"{what}: M-Pesa refused the consumer key and secret", provider_code=code)
    if "wrong credentials" in lowered:
        return AuthFailed(
            f"{what}: M-Pesa refused the passkey or shortcode (Wrong credentials)", provider_code=code
        )
    if "merchant does not exist" in lowered:
        return AuthFailed(f"{what}: M-Pesa does not know this shortcode", provider_code=code)
    if "unable to lock subscriber" in lowered:
        return Unavailable(
            f"{what}: a payment is already in progress for this customer; try again shortly",
            provider_code=code,
        )
    if code == "500.003.02":
        return RateLimited(
            5.0, f"{what}: M-Pesa is busy (spike arrest); try again shortly", provider_code=code
        )
    if code == "500.003.03":
        return RateLimited(60.0, f"{what}: the app's M-Pesa quota is used up", provider_code=code)
    if code in ("404.001.01", "405.001"):
        return InvalidResponse(f"{what}: M-Pesa has no such API here (check base_url)", provider_code=code)
    if code and code.startswith("400."):
        return Rejected(said, provider_code=code)
    if status >= 500:
        if "already registered" in lowered or "duplicate" in lowered:
            return Rejected(said, provider_code=code)
        return Unavailable(said, provider_code=code)
    return Rejected(said, provider_code=code)


__all__ = [
    "EAT",
    "INVALID_TOKEN_CODES",
    "MSISDN",
    "RESULT_REASONS",
    "TIMESTAMP_FORMAT",
    "error_of",
    "kenyan_msisdn",
    "minor_of",
    "password",
    "phone_of",
    "result_reason",
    "timestamp",
    "whole_shillings",
]
