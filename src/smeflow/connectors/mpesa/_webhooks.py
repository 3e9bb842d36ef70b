"""Daraja's callbacks read into SMEFlow events, and the acknowledgements Daraja expects.

Every callback of one integration arrives at its ``webhook_url``; the connector tells them apart
by shape (``Body.stkCallback``, ``Result``, ``TransID``) and, for the URLs it registers itself,
by a ``type`` query parameter (C2B validation and confirmation share one shape, and a B2C queue
timeout looks like a result).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from pydantic import JsonValue

from smeflow.connectors._errors import InvalidResponse
from smeflow.connectors._sdk import InboundRequest, WebhookEvent, WebhookReply
from smeflow.connectors.mpesa._daraja import minor_of, phone_of, result_reason

CALLBACK_KINDS = (
    "payment.succeeded",
    "payment.failed",
    "c2b.validation",
    "c2b.confirmation",
    "transfer.succeeded",
    "transfer.failed",
)
ACCEPTED = WebhookReply(body=orjson.dumps({"ResultCode": 0, "ResultDesc": "Accepted"}))
C2B_ACCEPT = WebhookReply(body=orjson.dumps({"ResultCode": "0", "ResultDesc": "Accepted"}))
C2B_CONFIRMED = WebhookReply(body=orjson.dumps({"ResultCode": 0, "ResultDesc": "Success"}))


def with_type(url: str, kind: str) -> str:
    """``url`` with ``type=kind`` in its query (its other parameters kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "type"]
    query.append(("type", kind))
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse(request: InboundRequest) -> list[WebhookEvent]:
    """The events of one Daraja callback (:class:`InvalidResponse` if it is none we know)."""
    body = request.json()
    if not isinstance(body, dict):
        raise InvalidResponse("the M-Pesa callback is not a JSON object")
    stk = body.get("Body")
    if isinstance(stk, dict) and isinstance(stk.get("stkCallback"), dict):
        return [_stk(stk["stkCallback"])]
    if isinstance(body.get("Result"), dict):
        return [_b2c(body["Result"], timeout=request.query.get("type") == "b2c_timeout")]
    if "TransID" in body:
        return [_c2b(body, request.query.get("type"))]
    raise InvalidResponse("the M-Pesa callback is not an STK, C2B or B2C callback")


def reply(events: list[WebhookEvent]) -> WebhookReply:
    """Daraja's acknowledgement: the C2B validation accept shape, the confirmation's, or Accepted."""
    kinds = {event.kind for event in events}
    if "c2b.validation" in kinds:
        return C2B_ACCEPT
    if "c2b.confirmation" in kinds:
        return C2B_CONFIRMED
    return ACCEPTED


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise InvalidResponse(f"the M-Pesa callback has no {what}")
    return str(value).strip()


def _code(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidResponse("the M-Pesa callback has no ResultCode")
    return str(value).strip()


def _items(container: Any, list_key: str, name_key: str) -> dict[str, Any]:
    """Named items (``{"Name": …, "Value": …}``) by name; an item without a value is left out."""
    items = container.get(list_key) if isinstance(container, dict) else None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return {}
    found: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get(name_key), str) and "Value" in item:
            found[item[name_key]] = item["Value"]
    return found


def _stk(callback: dict[str, Any]) -> WebhookEvent:
    checkout = _text(callback.get("CheckoutRequestID"), "CheckoutRequestID")
    code = _code(callback.get("ResultCode"))
    event_id = f"stk:{checkout}:{code}"
    if code != "0":
        data: dict[str, JsonValue] = {
            "reason": result_reason(code, callback.get("ResultDesc")),
            "provider_code": code,
        }
        return WebhookEvent(event_id=event_id, kind="payment.failed", reference=checkout, data=data)
    items = _items(callback.get("CallbackMetadata"), "Item", "Name")
    data = {
        "amount_minor": minor_of(items.get("Amount")),
        "currency": "KES",
        "provider_ref": _text(items.get("MpesaReceiptNumber"), "MpesaReceiptNumber"),
    }
    phone = phone_of(items.get("PhoneNumber"))
    if phone is not None:
        data["phone"] = phone
    return WebhookEvent(event_id=event_id, kind="payment.succeeded", reference=checkout, data=data)


def _b2c(result: dict[str, Any], *, timeout: bool) -> WebhookEvent:
    originator = _text(result.get("OriginatorConversationID"), "OriginatorConversationID")
    code = "timeout" if timeout else _code(result.get("ResultCode"))
    event_id = f"b2c:{originator}:{code}"
    if code != "0":
        reason = (
            "M-Pesa did not process the payout in time (queue timeout)."
            if timeout
            else result_reason(code, result.get("ResultDesc"))
        )
        data: dict[str, JsonValue] = {"reason": reason, "provider_code": code}
        return WebhookEvent(event_id=event_id, kind="transfer.failed", reference=originator, data=data)
    params = _items(result.get("ResultParameters"), "ResultParameter", "Key")
    receipt = params.get("TransactionReceipt") or result.get("TransactionID")
    data = {
        "amount_minor": minor_of(params.get("TransactionAmount")),
        "currency": "KES",
        "provider_ref": _text(receipt, "TransactionReceipt"),
    }
    receiver = str(params.get("ReceiverPartyPublicName") or "")
    phone = phone_of(receiver.split(" - ", 1)[0])
    if phone is not None:
        data["phone"] = phone
    return WebhookEvent(event_id=event_id, kind="transfer.succeeded", reference=originator, data=data)


def _c2b(body: dict[str, Any], kind: str | None) -> WebhookEvent:
    trans_id = _text(body.get("TransID"), "TransID")
    if kind not in ("validation", "confirmation"):
        # URLs registered without our marker: validation is the one without a balance yet
        kind = "validation" if not str(body.get("OrgAccountBalance") or "").strip() else "confirmation"
    data: dict[str, JsonValue] = {
        "amount_minor": minor_of(body.get("TransAmount")),
        "currency": "KES",
        "provider_ref": trans_id,
        "account_reference": str(body.get("BillRefNumber") or ""),
        "shortcode": str(body.get("BusinessShortCode") or ""),
        "transaction_type": str(body.get("TransactionType") or ""),
    }
    phone = phone_of(body.get("MSISDN"))
    if phone is not None:
        data["phone"] = phone
    name = " ".join(str(body.get(k) or "").strip() for k in ("FirstName", "MiddleName", "LastName")).split()
    if name:
        data["name"] = " ".join(name)
    reference = str(body.get("BillRefNumber") or "").strip() or None
    if kind == "validation":
        return WebhookEvent(
            event_id=f"c2b-validation:{trans_id}", kind="c2b.validation", reference=reference, data=data
        )
    return WebhookEvent(event_id=trans_id, kind="c2b.confirmation", reference=reference, data=data)


__all__ = ["ACCEPTED", "C2B_ACCEPT", "C2B_CONFIRMED", "CALLBACK_KINDS", "parse", "reply", "with_type"]
