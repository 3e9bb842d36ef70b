"""The WhatsApp Business Cloud API connector (Meta Graph API, protocols_africa.md §5)."""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from smeflow.connectors._errors import AuthFailed, InvalidResponse, RateLimited, Rejected, Unavailable
from smeflow.connectors._http import json_body
from smeflow.connectors._sdk import (
    ActionContext,
    Connector,
    InboundRequest,
    Integration,
    WebhookEvent,
    WebhookReply,
    action,
)
from smeflow.connectors.whatsapp import _webhook
from smeflow.connectors.whatsapp._models import (
    MarkReadIn,
    MarkReadOut,
    PhoneNumberIn,
    PhoneNumberOut,
    SendInteractiveIn,
    SendOut,
    SendTemplateIn,
    SendTextIn,
    TemplateComponent,
    WhatsAppConfig,
    WhatsAppCredentials,
)
from smeflow.core.money import MoneyError, to_major
from smeflow.core.phones import msisdn

#: Graph error codes → what they mean for a tenant
_AUTH_CODES = {"190": "the access token was refused (expired or revoked): reconnect WhatsApp"}
_CONFIG_CODES = {
    "10": "the access token lacks permission for this phone number",
    "200": "the access token lacks permission for this phone number",
    "3": "the Meta app lacks the WhatsApp messaging capability",
    "368": "the WhatsApp Business account is temporarily blocked for policy violations",
    "131031": "the WhatsApp Business account is locked",
}
_RATE_CODES = {
    "4": ("the Meta app reached its call limit", 60.0),
    "80007": ("the WhatsApp Business account reached its rate limit", 60.0),
    "130429": ("the phone number reached its message throughput limit", 1.0),
    "131056": ("too many messages to this customer in a short time", 60.0),
}
_REJECTED_CODES = {
    "131047": (
        "more than 24 hours have passed since the customer last wrote: "
        "only an approved template can be sent now (whatsapp.send_template)"
    ),
    "131026": "the message could not be delivered to this number (not on WhatsApp, or cannot receive it)",
    "131030": "this number is not in the test phone number's allowed recipients",
    "132000": "the number of template parameters does not match the template",
    "132001": "the template does not exist in this language, or is not approved",
    "131051": "this message type is not supported",
}


class WhatsApp(Connector):
    """WhatsApp Business Cloud API: send text, template and interactive messages; receive
    messages and delivery statuses through signed webhooks."""

    key = "whatsapp"
    version = "1.0.0"
    title = "WhatsApp Business (Cloud API)"
    description = (
        "Send WhatsApp messages (text, approved templates, reply buttons and lists) from a WhatsApp "
        "Business number, and receive customers' messages and delivery statuses."
    )
    default_base_url = "https://graph.facebook.com"
    credentials_model = WhatsAppCredentials
    config_model = WhatsAppConfig
    webhook_auth = "signature"
    webhook_events = ("message.received", "message.status")
    rate_limit_per_second: ClassVar[float | None] = 80.0

    # --- credentials ------------------------------------------------------------------------

    async def check(self, ctx: ActionContext) -> None:
        """Read the configured phone number with the access token (bad token: :class:`AuthFailed`)."""
        await self._phone_number(ctx)

    @action("phone_number", effect="read")
    async def phone_number(self, ctx: ActionContext, data: PhoneNumberIn) -> PhoneNumberOut:
        """Read the integration's WhatsApp Business phone number: its display number, verified
        business name and quality rating."""
        return await self._phone_number(ctx)

    async def _phone_number(self, ctx: ActionContext) -> PhoneNumberOut:
        config: WhatsAppConfig = ctx.config
        response = await ctx.http.request(
            "GET",
            f"/{config.api_version}/{_phone_number_id(config)}",
            params={"fields": "display_phone_number,verified_name,quality_rating"},
            headers=_auth(ctx),
        )
        body = _answer(ctx, response)
        try:
            return PhoneNumberOut.model_validate(body)
        except ValueError:
            raise InvalidResponse("the Graph API's phone number answer could not be read") from None

    # --- sending ----------------------------------------------------------------------------

    @action("send_text", effect="write")
    async def send_text(self, ctx: ActionContext, data: SendTextIn) -> SendOut:
        """Send a free-form text message to a customer. Only within 24 hours of the customer's
        last message (outside it: error 131047, send a template instead)."""
        return await self._send(
            ctx, data.to, "text", {"text": {"body": data.text, "preview_url": data.preview_url}}
        )

    @action("send_template", effect="write")
    async def send_template(self, ctx: ActionContext, data: SendTemplateIn) -> SendOut:
        """Send an approved template message (the only kind allowed outside the 24-hour window),
        with its header, body and button parameters."""
        template: dict[str, Any] = {"name": data.name, "language": {"code": data.language}}
        if data.components:
            template["components"] = [_component(c) for c in data.components]
        return await self._send(ctx, data.to, "template", {"template": template})

    @action("send_interactive", effect="write")
    async def send_interactive(self, ctx: ActionContext, data: SendInteractiveIn) -> SendOut:
        """Send an interactive message: up to 3 reply buttons, or a list of up to 10 rows. The
        customer's choice arrives as a message.received event with its reply_id."""
        interactive: dict[str, Any] = {"type": data.kind, "body": {"text": data.body}}
        if data.header:
            interactive["header"] = {"type": "text", "text": data.header}
        if data.footer:
            interactive["footer"] = {"text": data.footer}
        if data.kind == "button":
            interactive["action"] = {
                "buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in data.buttons]
            }
        else:
            interactive["action"] = {
                "button": data.list_button,
                "sections": [s.model_dump(exclude_none=True) for s in data.sections],
            }
        return await self._send(ctx, data.to, "interactive", {"interactive": interactive})

    async def _send(self, ctx: ActionContext, to: str, kind: str, content: dict[str, Any]) -> SendOut:
        config: WhatsAppConfig = ctx.config
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": msisdn(to),
            "type": kind,
            **content,
        }
        if ctx.idempotency_key:
            # echoed in this message's status notifications: a repeated send is recognisable there
            payload["biz_opaque_callback_data"] = ctx.idempotency_key[:512]
        response = await ctx.http.request(
            "POST",
            f"/{config.api_version}/{_phone_number_id(config)}/messages",
            json=payload,
            headers=_auth(ctx),
        )
        body = _answer(ctx, response)
        try:
            message = body["messages"][0]
            contacts = body.get("contacts") or [{}]
            return SendOut(
                message_id=str(message["id"]),
                wa_id=contacts[0].get("wa_id"),
                message_status=message.get("message_status"),
            )
        except (KeyError, IndexError, TypeError, AttributeError):
            raise InvalidResponse(
                "the Graph API accepted the message but its answer has no message id"
            ) from None

    @action("mark_read", effect="write")
    async def mark_read(self, ctx: ActionContext, data: MarkReadIn) -> MarkReadOut:
        """Mark a customer's message as read (the customer sees blue ticks); repeating it is
        harmless."""
        config: WhatsAppConfig = ctx.config
        payload = {"messaging_product": "whatsapp", "status": "read", "message_id": data.message_id}
        response = await ctx.http.request(
            "POST",
            f"/{config.api_version}/{_phone_number_id(config)}/messages",
            json=payload,
            headers=_auth(ctx),
        )
        body = _answer(ctx, response)
        return MarkReadOut(success=bool(body.get("success")))

    # --- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, integration: Integration, request: InboundRequest) -> None:
        """Check ``X-Hub-Signature-256`` over the raw body with the app secret."""
        credentials = typing.cast(WhatsAppCredentials, integration.credentials)
        _webhook.verify_signature(credentials.app_secret.get_secret_value(), request)

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        """Inbound messages → ``message.received``; statuses → ``message.status``."""
        return _webhook.parse(request)

    def webhook_handshake(self, integration: Integration, request: InboundRequest) -> WebhookReply | None:
        """Answer Meta's ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``."""
        credentials = typing.cast(WhatsAppCredentials, integration.credentials)
        return _webhook.handshake(credentials.verify_token.get_secret_value(), request)


def _phone_number_id(config: WhatsAppConfig) -> str:
    if not config.phone_number_id:
        raise AuthFailed("the WhatsApp integration has no phone number id: set it in its settings")
    return config.phone_number_id


def _auth(ctx: ActionContext) -> dict[str, str]:
    credentials: WhatsAppCredentials = ctx.credentials
    return {"Authorization": f"Bearer {credentials.access_token.get_secret_value()}"}


def _component(component: TemplateComponent) -> dict[str, Any]:
    out = component.model_dump(exclude_none=True)
    if component.index is not None:
        out["index"] = str(component.index)
    out["parameters"] = [_parameter(p.model_dump(exclude_none=True)) for p in component.parameters]
    return out


def amount_1000(amount_minor: int, currency: str) -> int:
    """Graph's ``amount_1000`` (the amount times 1000) of ``amount_minor`` minor units, exactly:
    KES 1,000.00 (100000 cents) → 1000000; UGX 5,000 (no minor unit) → 5000000."""
    return int(to_major(amount_minor, currency) * Decimal(1000))


def _parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    """A currency parameter in minor units (``amount_minor``) becomes Graph's ``amount_1000``."""
    currency = parameter.get("currency")
    if parameter["type"] != "currency" or not isinstance(currency, dict) or "amount_minor" not in currency:
        return parameter
    try:
        converted_amount = amount_1000(int(currency["amount_minor"]), str(currency.get("code", "")))
    except (MoneyError, ValueError, TypeError):
        raise Rejected(
            "components: a currency parameter needs an integer amount_minor and an ISO code"
        ) from None
    converted = {k: v for k, v in currency.items() if k != "amount_minor"}
    converted["amount_1000"] = converted_amount
    return {**parameter, "currency": converted}


def _answer(ctx: ActionContext, response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer, or the typed error the Graph error in it stands for."""
    if response.is_success:
        body = json_body(response)
        if not isinstance(body, dict):
            raise InvalidResponse(f"the Graph API answered {response.status_code} with an unexpected body")
        return body
    raise graph_error(ctx, response)


def graph_error(ctx: ActionContext, response: httpx.Response) -> Exception:
    """The typed error for a Graph API error answer (with the Graph code as ``provider_code``)."""
    try:
        error = json_body(response).get("error") or {}
    except (InvalidResponse, AttributeError):
        error = {}
    code = str(error.get("code")) if error.get("code") is not None else None
    said = str(error.get("message") or "")[:200]
    details = str((error.get("error_data") or {}).get("details") or "")[:300]
    graph = ctx.http.redact(" ".join(part for part in (said, details) if part))
    status = response.status_code
    if code in _AUTH_CODES or (code is None and status == 401):
        return AuthFailed(f"WhatsApp: {_AUTH_CODES['190']}", provider_code=code or "190")
    if code in _CONFIG_CODES:
        return AuthFailed(f"WhatsApp: {_CONFIG_CODES[code]}", provider_code=code)
    if code in _RATE_CODES:
        text, wait = _RATE_CODES[code]
        return RateLimited(wait, f"WhatsApp: {text}; try again later", provider_code=code)
    if code in _REJECTED_CODES:
        return Rejected(f"WhatsApp: {_REJECTED_CODES[code]}", provider_code=code)
    if status >= 500:
        return Unavailable(f"WhatsApp is not available ({status}); try again later", provider_code=code)
    if status == 429:
        return RateLimited(60.0, "WhatsApp is limiting requests; try again later", provider_code=code)
    return Rejected(f"WhatsApp refused the request: {graph or status}", provider_code=code)


__all__ = ["WhatsApp", "amount_1000", "graph_error"]
