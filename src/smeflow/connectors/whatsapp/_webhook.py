"""WhatsApp webhooks: the ``X-Hub-Signature-256`` check, the ``GET`` verification handshake,
and the notification payloads read into SMEFlow events (protocols_africa.md §5.2-5.4).

* The signature is ``sha256=<hex HMAC-SHA256(app secret, raw body)>``, compared in constant time.
* An inbound message is ``message.received`` with ``event_id`` = its wamid; a status is
  ``message.status`` with ``event_id`` = ``<wamid>:<status>`` (Meta delivers statuses at least
  once, and one message has up to four) and ``reference`` = the wamid of the message we sent.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from pydantic import JsonValue

from smeflow.connectors._errors import AuthFailed, InvalidResponse
from smeflow.connectors._sdk import InboundRequest, WebhookEvent, WebhookReply

SIGNATURE_HEADER = "X-Hub-Signature-256"
STATUSES = ("sent", "delivered", "read", "failed")
_MEDIA = ("image", "audio", "video", "document", "sticker")


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, request: InboundRequest) -> None:
    """Raise :class:`AuthFailed` unless the request carries a valid signature of its raw body."""
    given = request.header(SIGNATURE_HEADER) or ""
    if not given.startswith("sha256="):
        raise AuthFailed("the WhatsApp notification is not signed (no X-Hub-Signature-256)")
    if not hmac.compare_digest(given.encode(), sign(app_secret, request.body).encode()):
        raise AuthFailed("the WhatsApp notification's signature does not match the app secret")


def handshake(verify_token: str, request: InboundRequest) -> WebhookReply | None:
    """Meta's subscription check: ``hub.mode=subscribe`` with our verify token → 200 and the
    ``hub.challenge`` as plain text; anything else → 403."""
    if request.method.upper() != "GET":
        return None
    mode = request.query.get("hub.mode")
    token = request.query.get("hub.verify_token") or ""
    challenge = request.query.get("hub.challenge")
    if mode == "subscribe" and challenge and hmac.compare_digest(token.encode(), verify_token.encode()):
        return WebhookReply(200, challenge.encode(), "text/plain")
    return WebhookReply(403, b"Forbidden", "text/plain")


def parse(request: InboundRequest) -> list[WebhookEvent]:
    """The events of a (verified) notification; :class:`InvalidResponse` if it is malformed."""
    payload = request.json()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise InvalidResponse("not a WhatsApp Business Account notification")
    events: list[WebhookEvent] = []
    try:
        for entry in payload.get("entry") or []:
            for change in entry.get("changes") or []:
                if change.get("field") != "messages":
                    continue
                events.extend(_events_of(change.get("value") or {}))
    except (AttributeError, KeyError, TypeError, ValueError):
        raise InvalidResponse("the WhatsApp notification does not have the documented shape") from None
    return events


def _events_of(value: dict[str, Any]) -> list[WebhookEvent]:
    metadata = value.get("metadata") or {}
    phone_number_id = str(metadata.get("phone_number_id") or "")
    business = _plus(metadata.get("display_phone_number"))
    names = {c["wa_id"]: (c.get("profile") or {}).get("name") for c in value.get("contacts") or []}
    events = []
    for message in value.get("messages") or []:
        data = _message_data(message)
        data.update(channel="whatsapp", phone_number_id=phone_number_id)
        data["from"] = _plus(message["from"])
        if business:
            data["to"] = business
        if names.get(message["from"]):
            data["name"] = names[message["from"]]
        context = message.get("context") or {}
        events.append(
            WebhookEvent(
                event_id=str(message["id"]),
                kind="message.received",
                reference=context.get("id"),
                data=data,
            )
        )
    for status in value.get("statuses") or []:
        events.append(_status_event(status, phone_number_id, business))
    return events


def _message_data(message: dict[str, Any]) -> dict[str, JsonValue]:
    kind = str(message["type"])
    data: dict[str, JsonValue] = {
        "provider_message_id": str(message["id"]),
        "message_type": kind,
        "timestamp": _iso(message["timestamp"]),
    }
    body = message.get(kind) or {}
    text: str | None = None
    if kind == "text":
        text = body["body"]
    elif kind == "interactive":
        reply = body.get(body.get("type")) or {}
        data["reply_type"] = body.get("type")
        data["reply_id"] = reply.get("id")
        text = reply.get("title")
    elif kind == "button":
        data["reply_type"] = "button"
        data["reply_id"] = body.get("payload")
        text = body.get("text")
    elif kind == "location":
        data["location"] = {
            k: body[k] for k in ("latitude", "longitude", "name", "address", "url") if k in body
        }
        text = body.get("name")
    elif kind in _MEDIA:
        data["media"] = {
            k: body[k] for k in ("id", "mime_type", "sha256", "caption", "filename", "animated") if k in body
        }
        text = body.get("caption")
    elif kind == "reaction":
        data["reference_message_id"] = body.get("message_id")
        text = body.get("emoji")
    elif kind == "system":
        text = body.get("body")
    if text is not None:
        data["text"] = str(text)
    return data


def _status_event(status: dict[str, Any], phone_number_id: str, business: str | None) -> WebhookEvent:
    state = str(status["status"])
    if state not in STATUSES:
        raise ValueError(state)
    wamid = str(status["id"])
    data: dict[str, JsonValue] = {
        "channel": "whatsapp",
        "status": state,
        "provider_message_id": wamid,
        "phone_number_id": phone_number_id,
        "timestamp": _iso(status["timestamp"]),
    }
    recipient = status.get("recipient_id")
    if recipient:
        data["to"] = _plus(recipient)
    if business:
        data["from"] = business
    if status.get("biz_opaque_callback_data"):
        data["callback_data"] = str(status["biz_opaque_callback_data"])
    errors = status.get("errors") or []
    if errors:
        first = errors[0]
        data["error_code"] = str(first.get("code"))
        details = (first.get("error_data") or {}).get("details")
        data["reason"] = str(details or first.get("title") or first.get("message") or "")[:300]
    return WebhookEvent(event_id=f"{wamid}:{state}", kind="message.status", reference=wamid, data=data)


def _plus(digits: Any) -> str | None:
    text = str(digits or "").strip()
    if not text:
        return None
    return text if text.startswith("+") else "+" + text


def _iso(unix_seconds: Any) -> str:
    return datetime.fromtimestamp(int(unix_seconds), UTC).isoformat()


__all__ = ["SIGNATURE_HEADER", "handshake", "parse", "sign", "verify_signature"]
