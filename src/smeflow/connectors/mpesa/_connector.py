"""The M-Pesa Daraja connector: OAuth tokens, STK Push and Query, C2B URLs, B2C payouts, callbacks."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson

from smeflow.connectors._errors import AuthFailed, InvalidResponse, Rejected
from smeflow.connectors._sdk import (
    ActionContext,
    Connector,
    InboundRequest,
    Integration,
    WebhookEvent,
    WebhookReply,
    action,
)
from smeflow.connectors.mpesa import _webhooks
from smeflow.connectors.mpesa._daraja import (
    INVALID_TOKEN_CODES,
    error_of,
    kenyan_msisdn,
    password,
    result_reason,
    timestamp,
    whole_shillings,
)
from smeflow.connectors.mpesa._models import (
    B2cPaymentIn,
    B2cPaymentOut,
    C2bRegisterIn,
    C2bRegisterOut,
    MpesaConfig,
    MpesaCredentials,
    StkPushIn,
    StkPushOut,
    StkQueryIn,
    StkQueryOut,
)

logger = logging.getLogger(__name__)

#: words Daraja refuses in C2B URLs (protocols §1.7)
_FORBIDDEN_URL_WORDS = re.compile(r"m-?pesa|safaricom|exe|cmd|sql|query", re.IGNORECASE)
_ORIGINATOR_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_REFRESH_EARLY = timedelta(seconds=60)
TOKEN_PATH = "/oauth/v1/generate"  # noqa: S105 (a path, not a secret)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: datetime
    fingerprint: str


def _setting(value: Any, what: str) -> Any:
    """A value the integration must have for this action, or :class:`AuthFailed` (a config fix)."""
    if value is None or value == "":
        raise AuthFailed(f"the M-Pesa integration has no {what}: add it to the integration")
    return value


def _maybe_json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _still_processing(code: str, message: Any) -> bool:
    """Whether an STK Query answer means "the customer has not answered yet": the documented
    ``500.001.1001 The transaction is being processed`` error, or a ``4999`` result."""
    text = str(message or "").lower()
    return code == "4999" or (code == "500.001.1001" and "processed" in text) or "under processing" in text


def expires_in_seconds(value: Any) -> int:
    """Daraja's ``expires_in`` (``3599`` or ``"3599"``) in seconds, or :class:`InvalidResponse`."""
    if isinstance(value, bool):
        raise InvalidResponse("M-Pesa's token has no lifetime")
    try:
        seconds = int(str(value).strip())
    except ValueError:
        raise InvalidResponse("M-Pesa's token lifetime is not a number") from None
    if seconds <= 0:
        raise InvalidResponse("M-Pesa's token lifetime is not positive")
    return seconds


def originator_id(key: str | None) -> str:
    """The B2C ``OriginatorConversationID`` for an idempotency key: the key itself when Daraja
    can take it, else a stable digest of it (a new random one when there is no key)."""
    if key is None:
        return uuid.uuid4().hex
    if _ORIGINATOR_ID.match(key):
        return key
    return "smef_" + hashlib.sha256(key.encode()).hexdigest()[:40]


class Mpesa(Connector):
    """Safaricom M-Pesa through the Daraja API (see the package docstring)."""

    key = "mpesa"
    webhook_name = "daraja"  # Daraja refuses callback URLs that contain "mpesa"
    version = "1.0.0"
    title = "M-Pesa (Safaricom Daraja)"
    description = (
        "Take M-Pesa payments by STK Push (the customer confirms on their phone), check their "
        "status, receive paybill/till payments (C2B) and send payouts to phones (B2C)."
    )
    default_base_url = "https://api.safaricom.co.ke"
    credentials_model = MpesaCredentials
    config_model = MpesaConfig
    countries = ("KE",)
    webhook_auth = "token"
    webhook_events = _webhooks.CALLBACK_KINDS

    _tokens: dict[uuid.UUID, _Token]
    _locks: dict[uuid.UUID, tuple[asyncio.AbstractEventLoop, asyncio.Lock]]

    def __init__(self) -> None:
        self._tokens = {}
        self._locks = {}

    # --- OAuth ----------------------------------------------------------------------------

    def _lock(self, integration_id: uuid.UUID) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        held = self._locks.get(integration_id)
        if held is None or held[0] is not loop:
            held = self._locks[integration_id] = (loop, asyncio.Lock())
        return held[1]

    @staticmethod
    def _fingerprint(ctx: ActionContext) -> str:
        creds: MpesaCredentials = ctx.credentials
        material = "\x00".join(
            (
                ctx.http.base_url,
                creds.consumer_key.get_secret_value(),
                creds.consumer_secret.get_secret_value(),
            )
        )
        return hashlib.sha256(material.encode()).hexdigest()

    async def _token(self, ctx: ActionContext, *, stale: str | None = None, fresh: bool = False) -> str:
        """The integration's access token: the cached one until ~60 s before it expires, a new
        one when ``fresh`` or when the cached one is ``stale`` (refused by Daraja)."""
        fingerprint = self._fingerprint(ctx)
        async with self._lock(ctx.integration.id):
            cached = self._tokens.get(ctx.integration.id)
            if (
                not fresh
                and cached is not None
                and cached.fingerprint == fingerprint
                and cached.value != stale
                and ctx.now() < cached.refresh_at
            ):
                return cached.value
            token, lifetime = await self._new_token(ctx)
            margin = min(_REFRESH_EARLY, timedelta(seconds=lifetime / 10))
            refresh_at = ctx.now() + timedelta(seconds=lifetime) - margin
            self._tokens[ctx.integration.id] = _Token(token, refresh_at, fingerprint)
            logger.debug("mpesa: new access token for integration %s (%s s)", ctx.integration.id, lifetime)
            return token

    async def _new_token(self, ctx: ActionContext) -> tuple[str, int]:
        creds: MpesaCredentials = ctx.credentials
        response = await ctx.http.request(
            "GET",
            TOKEN_PATH,
            params={"grant_type": "client_credentials"},
            auth=(creds.consumer_key.get_secret_value(), creds.consumer_secret.get_secret_value()),
        )
        body = _maybe_json(response)
        if response.status_code in (400, 401, 403):
            code = body.get("errorCode") if isinstance(body, dict) else None
            raise AuthFailed(
                "M-Pesa refused the consumer key and secret", provider_code=str(code) if code else None
            )
        if response.status_code != 200:
            raise error_of(response.status_code, body, what="getting an M-Pesa access token")
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("access_token"), str)
            or not body["access_token"]
        ):
            raise InvalidResponse("M-Pesa's token answer has no access_token")
        return body["access_token"], expires_in_seconds(body.get("expires_in"))

    async def _post(self, ctx: ActionContext, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """POST ``payload`` with the integration's token; a token Daraja calls invalid is
        replaced once and the call sent again (it was refused, so nothing happened)."""
        token = await self._token(ctx)
        for attempt in (1, 2):
            response = await ctx.http.request(
                "POST", path, json=payload, headers={"Authorization": f"Bearer {token}"}
            )
            body = _maybe_json(response)
            code = body.get("errorCode") if isinstance(body, dict) else None
            if attempt == 1 and (response.status_code == 401 or code in INVALID_TOKEN_CODES):
                token = await self._token(ctx, stale=token)
                continue
            return response.status_code, body
        raise AssertionError("unreachable")

    async def check(self, ctx: ActionContext) -> None:
        """Get a new access token with the integration's consumer key and secret."""
        await self._token(ctx, fresh=True)

    # --- STK Push -------------------------------------------------------------------------

    def _stk_auth(self, ctx: ActionContext) -> dict[str, str]:
        config: MpesaConfig = ctx.config
        creds: MpesaCredentials = ctx.credentials
        shortcode = _setting(config.shortcode, "shortcode")
        passkey = _setting(creds.passkey, "STK passkey").get_secret_value()
        stamp = timestamp(ctx.now())
        return {
            "BusinessShortCode": shortcode,
            "Password": password(shortcode, passkey, stamp),
            "Timestamp": stamp,
        }

    @action("stk_push", effect="money", title="Request an M-Pesa payment (STK Push)")
    async def stk_push(self, ctx: ActionContext, data: StkPushIn) -> StkPushOut:
        """Ask a customer to pay by M-Pesa: their phone shows a prompt for the amount and they
        confirm with their PIN. Returns at once with the checkout_request_id; the result arrives
        later as a payment.succeeded or payment.failed event (or ask with stk_query)."""
        config: MpesaConfig = ctx.config
        amount = whole_shillings(data.amount_minor, data.currency)
        phone = kenyan_msisdn(data.phone)
        callback = _setting(ctx.integration.webhook_url, "webhook URL")
        auth = self._stk_auth(ctx)
        till = config.transaction_type == "till"
        payload = {
            **auth,
            "TransactionType": "CustomerBuyGoodsOnline" if till else "CustomerPayBillOnline",
            "Amount": amount,
            "PartyA": phone,
            "PartyB": _setting(config.till_number, "till number") if till else auth["BusinessShortCode"],
            "PhoneNumber": phone,
            "CallBackURL": callback,
            "AccountReference": data.account_reference,
            "TransactionDesc": data.description or "Payment",
        }
        status, body = await self._post(ctx, "/mpesa/stkpush/v1/processrequest", payload)
        if status != 200 or not isinstance(body, dict) or "errorCode" in body:
            raise error_of(status, body, what="STK push")
        if str(body.get("ResponseCode")) != "0":
            code = str(body.get("ResponseCode"))
            raise error_of(
                400, {"errorCode": code, "errorMessage": body.get("ResponseDescription")}, what="STK push"
            )
        checkout, merchant = body.get("CheckoutRequestID"), body.get("MerchantRequestID")
        if not isinstance(checkout, str) or not checkout or not isinstance(merchant, str):
            raise InvalidResponse("M-Pesa accepted the STK push but gave no CheckoutRequestID")
        return StkPushOut(
            checkout_request_id=checkout,
            merchant_request_id=merchant,
            customer_message=body.get("CustomerMessage")
            if isinstance(body.get("CustomerMessage"), str)
            else None,
            amount_minor=data.amount_minor,
            currency="KES",
            phone="+" + phone,
        )

    @action("stk_query", effect="read", title="Check an M-Pesa STK payment")
    async def stk_query(self, ctx: ActionContext, data: StkQueryIn) -> StkQueryOut:
        """Ask M-Pesa how an STK Push payment stands: pending (the customer has not answered
        yet), succeeded, or failed with the reason. Use it when a callback is late or lost."""
        payload = {**self._stk_auth(ctx), "CheckoutRequestID": data.checkout_request_id}
        status, body = await self._post(ctx, "/mpesa/stkpushquery/v1/query", payload)
        if isinstance(body, dict) and "errorCode" in body:
            if _still_processing(str(body.get("errorCode")), body.get("errorMessage")):
                return StkQueryOut(checkout_request_id=data.checkout_request_id, status="pending")
            raise error_of(status, body, what="STK query")
        if status != 200 or not isinstance(body, dict):
            raise error_of(status, body, what="STK query")
        code = body.get("ResultCode")
        if code is None or code == "" or _still_processing(str(code), body.get("ResultDesc")):
            return StkQueryOut(checkout_request_id=data.checkout_request_id, status="pending")
        code = str(code)
        if code == "0":
            return StkQueryOut(
                checkout_request_id=data.checkout_request_id, status="succeeded", result_code=code
            )
        return StkQueryOut(
            checkout_request_id=data.checkout_request_id,
            status="failed",
            result_code=code,
            reason=result_reason(code, body.get("ResultDesc")),
        )

    # --- C2B ------------------------------------------------------------------------------

    @action("c2b_register_urls", effect="write", title="Register the M-Pesa paybill/till callback URLs")
    async def c2b_register_urls(self, ctx: ActionContext, data: C2bRegisterIn) -> C2bRegisterOut:
        """Tell M-Pesa where to send the validation and confirmation of payments customers make
        to the paybill or till (C2B). By default both go to the integration's webhook URL."""
        config: MpesaConfig = ctx.config
        shortcode = data.shortcode or _setting(config.shortcode, "shortcode")
        base = ctx.integration.webhook_url
        confirmation = data.confirmation_url or _webhooks.with_type(
            _setting(base, "webhook URL"), "confirmation"
        )
        validation = data.validation_url or _webhooks.with_type(_setting(base, "webhook URL"), "validation")
        for name, url in (("confirmation_url", confirmation), ("validation_url", validation)):
            found = _FORBIDDEN_URL_WORDS.search(url)
            if found:
                raise Rejected(
                    f"{name}: M-Pesa refuses C2B URLs containing {found.group(0)!r}; "
                    "use a webhook address without it"
                )
        payload = {
            "ShortCode": shortcode,
            "ResponseType": data.response_type,
            "ConfirmationURL": confirmation,
            "ValidationURL": validation,
        }
        status, body = await self._post(ctx, "/mpesa/c2b/v2/registerurl", payload)
        if status != 200 or not isinstance(body, dict) or str(body.get("ResponseCode")) != "0":
            raise error_of(status, body, what="C2B URL registration")
        conversation = body.get("OriginatorCoversationID") or body.get("OriginatorConversationID")
        return C2bRegisterOut(
            shortcode=shortcode,
            confirmation_url=confirmation,
            validation_url=validation,
            conversation_id=str(conversation) if conversation else None,
        )

    # --- B2C ------------------------------------------------------------------------------

    @action("b2c_payment", effect="money", title="Send money to a phone (M-Pesa B2C)")
    async def b2c_payment(self, ctx: ActionContext, data: B2cPaymentIn) -> B2cPaymentOut:
        """Pay money from the business's B2C shortcode to a customer's M-Pesa. Returns at once;
        the outcome arrives later as a transfer.succeeded or transfer.failed event. A repeated
        call (same idempotency key) is recognised by M-Pesa and not paid twice."""
        config: MpesaConfig = ctx.config
        creds: MpesaCredentials = ctx.credentials
        amount = whole_shillings(data.amount_minor, data.currency)
        phone = kenyan_msisdn(data.phone)
        callback = _setting(ctx.integration.webhook_url, "webhook URL")
        originator = originator_id(ctx.idempotency_key)
        payload: dict[str, Any] = {
            "OriginatorConversationID": originator,
            "InitiatorName": _setting(creds.initiator_name, "B2C initiator name"),
            "SecurityCredential": _setting(
                creds.security_credential, "B2C security credential"
            ).get_secret_value(),
            "CommandID": data.command,
            "Amount": amount,
            "PartyA": _setting(config.b2c_shortcode, "B2C shortcode"),
            "PartyB": phone,
            "Remarks": data.remarks,
            "QueueTimeOutURL": _webhooks.with_type(callback, "b2c_timeout"),
            "ResultURL": _webhooks.with_type(callback, "b2c_result"),
        }
        if data.occasion:
            payload["Occassion"] = data.occasion  # sic: Daraja's spelling
        out = {"originator_conversation_id": originator, "amount_minor": data.amount_minor, "currency": "KES"}
        status, body = await self._post(ctx, "/mpesa/b2c/v3/paymentrequest", payload)
        if isinstance(body, dict) and "duplicate" in str(body.get("errorMessage", "")).lower():
            return B2cPaymentOut(**out, phone="+" + phone, duplicate=True)
        if status != 200 or not isinstance(body, dict) or str(body.get("ResponseCode")) != "0":
            raise error_of(status, body, what="B2C payment")
        conversation = body.get("ConversationID")
        return B2cPaymentOut(
            **out, phone="+" + phone, conversation_id=str(conversation) if conversation else None
        )

    # --- callbacks ------------------------------------------------------------------------

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        """The event of one Daraja callback (STK result, C2B validation/confirmation, B2C result)."""
        return _webhooks.parse(request)

    def webhook_reply(
        self, integration: Integration, request: InboundRequest, events: list[WebhookEvent]
    ) -> WebhookReply:
        """The acknowledgement Daraja expects (C2B validation: accept)."""
        return _webhooks.reply(events)


__all__ = ["Mpesa", "expires_in_seconds", "originator_id"]
