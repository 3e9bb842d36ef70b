"""Reading AT's form-encoded callbacks (§4.3 to §4.5) into SMEFlow events.

Which callback a form is, is told by its fields (AT posts each kind to its own URL, but one
integration URL may receive them all): ``isActive`` → voice, ``serviceCode`` → USSD, ``from`` +
``text`` → inbound SMS, ``id`` + ``status`` → SMS delivery report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pydantic import JsonValue

from smeflow.connectors._errors import InvalidResponse
from smeflow.connectors._sdk import WebhookEvent
from smeflow.connectors.africastalking._sms import parse_cost
from smeflow.connectors.africastalking._ussd import ussd_inputs
from smeflow.core.phones import PhoneError, to_e164

#: AT's delivery-report statuses (§4.3) → SMEFlow's message statuses
DELIVERY_STATUSES: dict[str, str] = {
    "Sent": "sent",
    "Submitted": "sent",
    "Buffered": "sent",
    "Success": "delivered",
    "Rejected": "failed",
    "Failed": "failed",
}


def classify(form: Mapping[str, str]) -> str:
    """``voice``, ``ussd``, ``ussd_end``, ``sms_inbound`` or ``sms_delivery`` (else InvalidResponse)."""
    if "isActive" in form and "sessionId" in form:
        return "voice"
    if "serviceCode" in form and "sessionId" in form:
        if "text" in form:
            return "ussd"
        if "status" in form:
            return "ussd_end"
    if {"from", "text", "id"} <= form.keys():
        return "sms_inbound"
    if {"id", "status"} <= form.keys():
        return "sms_delivery"
    raise InvalidResponse("the delivery is not an Africa's Talking SMS, USSD or voice callback")


def parse_callback(form: Mapping[str, str], voice_number: str | None = None) -> WebhookEvent:
    """The event one AT callback carries (:class:`InvalidResponse` naming a missing field)."""
    kind = classify(form)
    if kind == "voice":
        return _voice(form, voice_number)
    if kind == "ussd":
        return _ussd(form)
    if kind == "ussd_end":
        return _ussd_end(form)
    if kind == "sms_inbound":
        return _inbound(form)
    return _delivery(form)


def _need(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if value is None or not value.strip():
        raise InvalidResponse(f"the Africa's Talking callback has no {name}")
    return value.strip()


def _phone(value: str, name: str) -> str:
    try:
        return to_e164(value)
    except PhoneError:
        raise InvalidResponse(f"the Africa's Talking callback's {name} is not a phone number") from None


def _event_id(*parts: str) -> str:
    joined = ":".join(parts)
    if len(joined) <= 200:
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:40]
    return f"{parts[0][:150]}:{digest}"


def _optional(form: Mapping[str, str], data: dict[str, JsonValue], pairs: Mapping[str, str]) -> None:
    for ours, theirs in pairs.items():
        value = form.get(theirs)
        if value:
            data[ours] = value


def _delivery(form: Mapping[str, str]) -> WebhookEvent:
    message_id = _need(form, "id")
    raw_status = _need(form, "status")
    status = DELIVERY_STATUSES.get(raw_status)
    if status is None:
        raise InvalidResponse("the Africa's Talking delivery report has an unknown status")
    data: dict[str, JsonValue] = {
        "channel": "sms",
        "status": status,
        "provider_status": raw_status,
        "provider_message_id": message_id,
    }
    if form.get("phoneNumber"):
        data["to"] = _phone(form["phoneNumber"], "phoneNumber")
    _optional(form, data, {"error_code": "failureReason", "network_code": "networkCode"})
    if form.get("retryCount", "").isdigit():
        data["retry_count"] = int(form["retryCount"])
    return WebhookEvent(
        event_id=_event_id(message_id, raw_status), kind="message.status", reference=message_id, data=data
    )


def _inbound(form: Mapping[str, str]) -> WebhookEvent:
    message_id = _need(form, "id")
    data: dict[str, JsonValue] = {
        "channel": "sms",
        "from": _phone(_need(form, "from"), "from"),
        "text": form["text"],
        "provider_message_id": message_id,
    }
    _optional(form, data, {"to": "to", "date": "date", "link_id": "linkId", "network_code": "networkCode"})
    return WebhookEvent(event_id=message_id, kind="message.received", data=data)


def _ussd(form: Mapping[str, str]) -> WebhookEvent:
    session_id = _need(form, "sessionId")
    text = form["text"]
    data: dict[str, JsonValue] = {
        "session_id": session_id,
        "phone": _phone(_need(form, "phoneNumber"), "phoneNumber"),
        "service_code": _need(form, "serviceCode"),
        "text": text,
        "inputs": list(ussd_inputs(text)),
        "final": False,
    }
    _optional(form, data, {"network_code": "networkCode"})
    return WebhookEvent(
        event_id=_event_id(session_id, text), kind="ussd.session", reference=session_id, data=data
    )


def _ussd_end(form: Mapping[str, str]) -> WebhookEvent:
    """AT's end-of-session notification: the session is over; ``status`` says how it ended."""
    session_id = _need(form, "sessionId")
    data: dict[str, JsonValue] = {
        "session_id": session_id,
        "phone": _phone(_need(form, "phoneNumber"), "phoneNumber"),
        "service_code": _need(form, "serviceCode"),
        "text": form.get("input", ""),
        "final": True,
    }
    _optional(
        form,
        data,
        {"status": "status", "error_message": "errorMessage", "network_code": "networkCode", "cost": "cost"},
    )
    return WebhookEvent(
        event_id=_event_id(session_id, "end"), kind="ussd.session", reference=session_id, data=data
    )


def _voice(form: Mapping[str, str], voice_number: str | None) -> WebhookEvent:
    session_id = _need(form, "sessionId")
    active = form["isActive"].strip() == "1"
    if form["isActive"].strip() not in ("0", "1"):
        raise InvalidResponse("the Africa's Talking voice callback's isActive is not 0 or 1")
    direction = form.get("direction", "").strip().lower()
    if direction not in ("inbound", "outbound"):
        raise InvalidResponse("the Africa's Talking voice callback has no direction")
    caller = form.get("callerNumber") or None
    destination = form.get("destinationNumber") or None
    # the customer is whichever side is not our AT number; else the caller of an inbound call
    if voice_number and caller == voice_number:
        customer = destination
    elif voice_number and destination == voice_number:
        customer = caller
    else:
        customer = caller if direction == "inbound" else destination
    if customer is None:
        raise InvalidResponse("the Africa's Talking voice callback names no phone number")
    state = (form.get("callSessionState") or ("Active" if active else "Completed")).strip()
    data: dict[str, JsonValue] = {
        "session_id": session_id,
        "phone": _phone(customer, "callerNumber"),
        "direction": direction,
        "active": active,
        "state": state.lower(),
    }
    _optional(
        form,
        data,
        {
            "digits": "dtmfDigits",
            "recording_url": "recordingUrl",
            "hangup_cause": "hangupCause",
            "dial_destination": "dialDestinationNumber",
        },
    )
    if "recordingUrl" in form and "recording_url" not in data:
        data["recording_url"] = ""  # a Record that captured nothing
    if form.get("durationInSeconds", "").isdigit():
        data["duration_seconds"] = int(form["durationInSeconds"])
    cost = parse_cost(f"{form.get('currencyCode', '')} {form.get('amount', '')}")
    if cost is not None:
        data["amount_minor"] = cost.amount_minor
        data["currency"] = cost.currency
    step = _voice_step(form, active)
    body_digest = hashlib.sha256(repr(sorted(form.items())).encode()).hexdigest()[:12]
    return WebhookEvent(
        event_id=_event_id(session_id, step, body_digest), kind="voice.call", reference=session_id, data=data
    )


def _voice_step(form: Mapping[str, str], active: bool) -> str:
    if not active:
        return "end"
    if "dtmfDigits" in form:
        return "digits"
    if "recordingUrl" in form:
        return "recording"
    if form.get("dialDestinationNumber"):
        return "dial"
    return "start"


__all__ = ["DELIVERY_STATUSES", "classify", "parse_callback"]
