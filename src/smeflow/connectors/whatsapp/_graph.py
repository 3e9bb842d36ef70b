"""What the WhatsApp sandbox answers and sends, in the Graph API's own shapes: error bodies,
message payload checks and webhook notifications (protocols_africa.md §5)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from starlette.responses import JSONResponse

from smeflow.connectors.whatsapp._models import (
    MAX_BUTTON_ID,
    MAX_BUTTON_TITLE,
    MAX_BUTTONS,
    MAX_LIST_ROWS,
    MAX_TEXT,
)

FREE_FORM = frozenset(
    {
        "text",
        "interactive",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "reaction",
    }
)
TEMPLATE = "template"
REENGAGEMENT = (
    "Message failed to send because more than 24 hours have passed since the customer last replied "
    "to this number."
)


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    details: str | None = None,
    subcode: int | None = None,
    kind: str = "OAuthException",
) -> JSONResponse:
    """A Graph API error answer: ``{"error": {"message", "type", "code", …, "fbtrace_id"}}``."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return JSONResponse({"error": error}, status_code=status)


def bad_token() -> JSONResponse:
    return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")


def no_object(object_id: str, method: str) -> JSONResponse:
    return graph_error(
        400,
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation.",
        subcode=33,
        kind="GraphMethodException",
    )


def check_message(payload: Any, templates: set[str] | None) -> JSONResponse | None:
    """The Graph error for a malformed send, or None if the payload is acceptable."""
    if not isinstance(payload, dict):
        return graph_error(400, 100, "(#100) Invalid parameter")
    if payload.get("messaging_product") != "whatsapp":
        return graph_error(400, 100, "(#100) The parameter messaging_product is required.")
    if not str(payload.get("to") or "").lstrip("+").isdigit():
        return graph_error(400, 100, "(#100) The parameter to is required.")
    kind = payload.get("type", "text")
    if kind != TEMPLATE and kind not in FREE_FORM:
        return graph_error(
            400, 100, f"(#100) Param type must be one of {{{', '.join(sorted(FREE_FORM))}, template}}"
        )
    content = payload.get(kind)
    if not isinstance(content, dict):
        return graph_error(400, 100, f"(#100) The parameter {kind} is required.")
    if kind == "text":
        body = content.get("body")
        if not isinstance(body, str) or not body:
            return graph_error(400, 100, "(#100) The parameter text['body'] is required.")
        if len(body) > MAX_TEXT:
            return graph_error(
                400, 100, f"(#100) Param text['body'] must be at most {MAX_TEXT} characters long."
            )
    if kind == "interactive":
        problem = _interactive_problem(content)
        if problem:
            return graph_error(400, 131009, "(#131009) Parameter value is not valid", details=problem)
    if kind == TEMPLATE:
        name = content.get("name")
        code = (content.get("language") or {}).get("code")
        if not name or not code:
            return graph_error(
                400, 100, "(#100) The parameters template['name'] and template['language'] are required."
            )
        if templates is not None and name not in templates:
            return graph_error(
                400,
                132001,
                "(#132001) Template name does not exist in the translation",
                details=f"template name ({name}) does not exist in {code}",
            )
    return None


def _interactive_problem(content: dict[str, Any]) -> str | None:
    kind = content.get("type")
    if not (content.get("body") or {}).get("text"):
        return "interactive['body']['text'] is required"
    action = content.get("action") or {}
    if kind == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= MAX_BUTTONS:
            return f"buttons count must be between 1 and {MAX_BUTTONS}"
        replies = [b.get("reply") or {} for b in buttons]
        if any(len(str(r.get("title") or "")) not in range(1, MAX_BUTTON_TITLE + 1) for r in replies):
            return f"button title length must be between 1 and {MAX_BUTTON_TITLE}"
        if any(len(str(r.get("id") or "")) not in range(1, MAX_BUTTON_ID + 1) for r in replies):
            return f"button id length must be between 1 and {MAX_BUTTON_ID}"
        if len({r.get("id") for r in replies}) != len(replies):
            return "button ids must be unique"
        return None
    if kind == "list":
        rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        if not 1 <= len(rows) <= MAX_LIST_ROWS:
            return f"the total row count must be between 1 and {MAX_LIST_ROWS}"
        if not action.get("button"):
            return "interactive['action']['button'] is required"
        return None
    return "interactive['type'] must be button or list"


def wamid() -> str:
    """A message id in the Cloud API's style."""
    return "wamid." + secrets.token_urlsafe(36)


def notification(waba_id: str, metadata: dict[str, str], value: dict[str, Any]) -> dict[str, Any]:
    """The envelope of every webhook notification."""
    inner = {"messaging_product": "whatsapp", "metadata": metadata, **value}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": inner, "field": "messages"}]}],
    }


def status_value(
    message_id: str,
    status: str,
    recipient: str,
    *,
    callback_data: str | None = None,
    error: tuple[int, str, str] | None = None,
) -> dict[str, Any]:
    """One ``statuses`` item (``error``: code, title, details)."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if status in ("sent", "delivered", "read"):
        item["conversation"] = {
            "id": secrets.token_hex(16),
            "origin": {"type": "service"},
            "expiration_timestamp": str(int(time.time()) + 86400),
        }
        item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if callback_data:
        item["biz_opaque_callback_data"] = callback_data
    if error:
        code, title, details = error
        item["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
    return {"statuses": [item]}


def inbound_message(
    wa_id: str,
    kind: str,
    *,
    text: str | None,
    reply_id: str | None,
    context: str | None,
    extra: dict[str, Any] | None,
    business: str = "",
) -> dict[str, Any]:
    """One ``messages`` item of a customer's message (text, a button/list reply, a location, media)."""
    message: dict[str, Any] = {"from": wa_id, "id": wamid(), "timestamp": str(int(time.time()))}
    if kind == "text":
        message.update(type="text", text={"body": text or ""})
    elif kind in ("button_reply", "list_reply"):
        reply = {"id": reply_id or "", "title": text or ""}
        message.update(type="interactive", interactive={"type": kind, kind: reply})
    elif kind == "location":
        message.update(type="location", location=dict(extra or {}))
    elif kind in ("image", "document", "audio", "video", "sticker"):
        media = {
            "id": secrets.token_hex(8),
            "mime_type": "application/octet-stream",
            "sha256": secrets.token_hex(32),
            **(extra or {}),
        }
        if text:
            media["caption"] = text
        message.update(type=kind, **{kind: media})
    else:
        raise ValueError(f"the sandbox cannot simulate a {kind!r} message")
    if context:
        message["context"] = {"from": business, "id": context}
    return message


__all__ = [
    "bad_token",
    "check_message",
    "graph_error",
    "inbound_message",
    "no_object",
    "notification",
    "status_value",
    "wamid",
]
