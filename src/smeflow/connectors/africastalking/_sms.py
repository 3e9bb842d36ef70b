"""Reading AT's send-SMS answers (§4.2): per-recipient status codes and cost strings."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from smeflow.connectors._errors import InvalidResponse, Rejected, Unavailable
from smeflow.connectors.africastalking._models import Cost, SendSmsOut, SmsRecipient
from smeflow.core.money import MoneyError, from_major

#: statusCode → AT's name for it (§4.2)
STATUS_NAMES: dict[int, str] = {
    100: "Processed",
    101: "Sent",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
#: the codes that mean AT accepted the message (not that it was delivered)
ACCEPTED = frozenset({100, 101, 102})
#: codes that are AT's own trouble: the same send may succeed later
TRANSIENT = frozenset({500, 501})

#: what each failure means, in words a tenant understands
EXPLANATIONS: dict[int, str] = {
    401: "Africa's Talking is holding the message for a risk review",
    402: "the sender id is not registered for this Africa's Talking account",
    403: "the phone number is not valid",
    404: "Africa's Talking cannot send SMS to this type of number",
    405: "the Africa's Talking balance is too low to send",
    406: "the recipient has blocked messages from this sender",
    407: "Africa's Talking could not route the message to the recipient's network",
    409: "the recipient's do-not-disturb setting refused the message",
    500: "Africa's Talking failed internally",
    501: "the network gateway failed",
    502: "the network gateway refused the message",
}

_COST = re.compile(r"^([A-Z]{3})\s+(-?\d+(?:\.\d+)?)$")


def parse_cost(text: str | None) -> Cost | None:
    """``"KES 0.8000"`` → ``Cost(80, "KES")``; None when absent, ``"0"``, an unknown currency,
    or more precise than the currency's minor unit (``"USD 0.0079"``: the text is kept instead)."""
    if not text:
        return None
    match = _COST.match(text.strip())
    if match is None:
        return None
    currency, amount = match.groups()
    try:
        return Cost(amount_minor=from_major(Decimal(amount), currency), currency=currency)
    except (MoneyError, InvalidOperation):
        return None


def _explain(code: int) -> str:
    return EXPLANATIONS.get(code, f"Africa's Talking refused the message (status {code})")


def read_send_answer(body: Any, redact: Callable[[str], str]) -> SendSmsOut:
    """The output of a send from AT's 201 JSON body; :class:`Rejected` (or :class:`Unavailable`
    for AT's own failures) when no recipient was accepted; :class:`InvalidResponse` if unreadable."""
    data = body.get("SMSMessageData") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("Recipients"), list):
        raise InvalidResponse("Africa's Talking answered a send without SMSMessageData.Recipients")
    summary = redact(str(data.get("Message", "")))[:300]
    recipients = [_recipient(item) for item in data["Recipients"]]
    if not recipients:
        code = next((c for c, name in STATUS_NAMES.items() if name == summary.strip()), None)
        if code is not None:
            raise Rejected(f"Africa's Talking sent nothing: {_explain(code)}", provider_code=str(code))
        named = summary if re.fullmatch(r"\w{1,40}", summary) else None
        raise Rejected("Africa's Talking sent the message to no recipient", provider_code=named)
    accepted = sum(1 for r in recipients if r.accepted)
    if accepted == 0:
        codes = sorted({r.status_code for r in recipients})
        first = codes[0]
        reason = "; ".join(_explain(code) for code in codes)
        error = Unavailable if set(codes) <= TRANSIENT else Rejected
        raise error(f"Africa's Talking sent to no recipient: {reason}", provider_code=str(first))
    return SendSmsOut(
        summary=summary, accepted=accepted, failed=len(recipients) - accepted, recipients=recipients
    )


def _recipient(item: Any) -> SmsRecipient:
    if not isinstance(item, dict):
        raise InvalidResponse("Africa's Talking answered a recipient that is not an object")
    try:
        code = int(item["statusCode"])
        number = str(item["number"])
    except (KeyError, TypeError, ValueError):
        raise InvalidResponse("Africa's Talking answered a recipient without number or statusCode") from None
    message_id = item.get("messageId")
    cost_text = item.get("cost")
    cost_text = str(cost_text) if cost_text not in (None, "", "0") else None
    return SmsRecipient(
        number=number,
        accepted=code in ACCEPTED,
        status_code=code,
        status=str(item.get("status", "")),
        meaning=STATUS_NAMES.get(code, "Unknown"),
        provider_message_id=str(message_id) if message_id not in (None, "", "None") else None,
        cost=parse_cost(cost_text),
        cost_text=cost_text,
    )


__all__ = ["ACCEPTED", "EXPLANATIONS", "STATUS_NAMES", "TRANSIENT", "parse_cost", "read_send_answer"]
