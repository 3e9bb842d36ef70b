"""The Paystack connector: checkout (initialize + verify), refunds, transfers, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx

from smeflow.connectors._errors import AuthFailed, InvalidResponse, Rejected, Unavailable
from smeflow.connectors._http import json_body
from smeflow.connectors._sdk import (
    ActionContext,
    Connector,
    InboundRequest,
    Integration,
    WebhookEvent,
    action,
)
from smeflow.connectors.paystack._models import (
    TRANSACTION_STATUSES,
    TRANSFER_STATUSES,
    InitializeIn,
    InitializeOut,
    PaystackCredentials,
    RecipientIn,
    RecipientOut,
    RefundIn,
    RefundOut,
    TransferIn,
    TransferOut,
    VerifyIn,
    VerifyOut,
)
from smeflow.core.phones import PhoneError, to_e164

SIGNATURE_HEADER = "x-paystack-signature"


def reference_for(idempotency_key: str) -> str:
    """The Paystack reference of an idempotency key: ``sf-`` + 40 hex digits.

    Stable (a repeated call sends the same reference, which Paystack refuses as a duplicate),
    and within both of Paystack's alphabets (transactions: alphanumerics and ``-.=``;
    transfers: lower-case alphanumerics, ``-`` and ``_``, at least 16 characters)."""
    return "sf-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def sign(secret_key: str, body: bytes) -> str:
    """Paystack's webhook signature: hex HMAC-SHA512 of the raw body keyed with the secret key."""
    return hmac.new(secret_key.encode(), body, hashlib.sha512).hexdigest()


class Paystack(Connector):
    """Paystack (Nigeria, Ghana, South Africa, Kenya): see the package docstring."""

    key = "paystack"
    version = "1.0.0"
    title = "Paystack"
    description = (
        "Card, bank, USSD and mobile-money payments through Paystack checkout; refunds; payouts "
        "(transfers) to bank accounts and mobile wallets."
    )
    default_base_url = "https://api.paystack.co"
    credentials_model = PaystackCredentials
    countries = ("NG", "GH", "ZA", "KE")
    webhook_auth = "signature"
    webhook_events = (
        "payment.succeeded",
        "payment.failed",
        "transfer.succeeded",
        "transfer.failed",
        "refund.processed",
    )

    async def check(self, ctx: ActionContext) -> None:
        """Read the balance (a cheap authenticated call): :class:`AuthFailed` if the key is refused."""
        await self._call(ctx, "GET", "/balance")

    @action("initialize_transaction", effect="money", title="Start a Paystack checkout")
    async def initialize_transaction(self, ctx: ActionContext, data: InitializeIn) -> InitializeOut:
        """Start a Paystack checkout for a customer: returns the authorization_url to send them to
        and the reference to track the payment by (payment.succeeded arrives with it, and
        verify_transaction reads it). The reference comes from the step's idempotency key, so a
        repeated call is refused by Paystack as a duplicate instead of charging twice."""
        reference = reference_for(_key(ctx))
        body: dict[str, Any] = {
            "email": data.email,
            "amount": data.amount_minor,
            "currency": data.currency,
            "reference": reference,
        }
        if data.callback_url:
            body["callback_url"] = data.callback_url
        if data.channels:
            body["channels"] = data.channels
        if data.metadata:
            body["metadata"] = data.metadata
        answer = await self._call(ctx, "POST", "/transaction/initialize", json=body)
        found = _object(answer.get("data"))
        return InitializeOut(
            authorization_url=_text(found, "authorization_url"),
            access_code=_text(found, "access_code"),
            reference=str(found.get("reference") or reference),
        )

    @action("verify_transaction", effect="read", title="Verify a Paystack payment")
    async def verify_transaction(self, ctx: ActionContext, data: VerifyIn) -> VerifyOut:
        """Ask Paystack for a payment's status by its reference: succeeded, failed, abandoned (not
        completed by the customer yet), pending or reversed, with the amount and currency Paystack
        holds. With expected_amount_minor / expected_currency, an answer for another amount or
        currency is refused (only a succeeded payment for the expected amount grants value)."""
        answer = await self._call(ctx, "GET", f"/transaction/verify/{_path(data.reference)}")
        found = _object(answer.get("data"))
        out = VerifyOut(
            reference=_text(found, "reference"),
            status=TRANSACTION_STATUSES.get(str(found.get("status")), "pending"),
            amount_minor=_int(found, "amount"),
            currency=_text(found, "currency"),
            provider_ref=str(found.get("id", "")),
            paid_at=_optional(found.get("paid_at")),
            channel=_optional(found.get("channel")),
            email=_optional(_object(found.get("customer") or {}).get("email")),
            reason=_optional(found.get("gateway_response")),
        )
        if out.reference != data.reference:
            raise InvalidResponse("Paystack answered for another reference")
        if data.expected_currency is not None and out.currency != data.expected_currency:
            raise Rejected(
                f"the payment {data.reference} is in {out.currency}, not {data.expected_currency}",
                extra={"check": "currency"},
            )
        if data.expected_amount_minor is not None and out.amount_minor != data.expected_amount_minor:
            raise Rejected(
                f"the payment {data.reference} is for {out.amount_minor} minor units, "
                f"not the {data.expected_amount_minor} asked",
                extra={"check": "amount"},
            )
        return out

    @action("refund", effect="money", title="Refund a Paystack payment")
    async def refund(self, ctx: ActionContext, data: RefundIn) -> RefundOut:
        """Refund a succeeded Paystack payment, wholly or in part (amount_minor). Paystack has no
        idempotency field for refunds: the request is sent once, never retried, and refunding
        more than what remains is refused by Paystack. refund.processed arrives when it is done."""
        body: dict[str, Any] = {"transaction": data.reference}
        if data.amount_minor is not None:
            body["amount"] = data.amount_minor
        if data.currency is not None:
            body["currency"] = data.currency
        if data.customer_note:
            body["customer_note"] = data.customer_note
        if ctx.idempotency_key:
            body["merchant_note"] = f"smeflow {reference_for(ctx.idempotency_key)}"
        answer = await self._call(ctx, "POST", "/refund", json=body)
        found = _object(answer.get("data"))
        transaction = found.get("transaction")
        reference = (
            str(transaction.get("reference") or data.reference)
            if isinstance(transaction, dict)
            else data.reference
        )
        return RefundOut(
            refund_id=str(found.get("id", "")),
            reference=reference,
            status=str(found.get("status", "pending")),
            amount_minor=_int(found, "amount"),
            currency=_text(found, "currency"),
        )

    @action("create_transfer_recipient", effect="write", title="Add a Paystack payout recipient")
    async def create_transfer_recipient(self, ctx: ActionContext, data: RecipientIn) -> RecipientOut:
        """Register a bank account or mobile wallet to pay out to; returns its recipient_code
        (RCP_…) for transfer. Paystack answers an account already registered with the existing
        recipient, so repeating the call is harmless."""
        body: dict[str, Any] = {
            "type": data.type,
            "name": data.name,
            "account_number": data.account_number,
            "bank_code": data.bank_code,
        }
        if data.currency:
            body["currency"] = data.currency
        if data.description:
            body["description"] = data.description
        answer = await self._call(ctx, "POST", "/transferrecipient", json=body)
        found = _object(answer.get("data"))
        details = found.get("details") if isinstance(found.get("details"), dict) else {}
        assert isinstance(details, dict)
        return RecipientOut(
            recipient_code=_text(found, "recipient_code"),
            name=str(found.get("name") or data.name),
            currency=_optional(found.get("currency")),
            account_name=_optional(details.get("account_name")),
            bank_name=_optional(details.get("bank_name")),
        )

    @action("transfer", effect="money", title="Pay out with Paystack")
    async def transfer(self, ctx: ActionContext, data: TransferIn) -> TransferOut:
        """Send money from the Paystack balance to a recipient (create_transfer_recipient). The
        reference comes from the step's idempotency key: when Paystack already has a transfer with
        it (a repeated call), that transfer is returned instead of paying twice. The outcome
        arrives as transfer.succeeded or transfer.failed."""
        reference = reference_for(_key(ctx))
        body: dict[str, Any] = {
            "source": "balance",
            "amount": data.amount_minor,
            "currency": data.currency,
            "recipient": data.recipient,
            "reference": reference,
        }
        if data.reason:
            body["reason"] = data.reason
        try:
            answer = await self._call(ctx, "POST", "/transfer", json=body)
        except Rejected as refused:
            # a repeated call: Paystack refuses the reference it already has; return that transfer
            try:
                answer = await self._call(ctx, "GET", f"/transfer/verify/{reference}")
            except Rejected:
                raise refused from None
            existing = _transfer_out(_object(answer.get("data")), reference)
            if (existing.amount_minor, existing.currency) != (data.amount_minor, data.currency):
                raise refused from None
            return existing
        return _transfer_out(_object(answer.get("data")), reference)

    # --- webhooks -------------------------------------------------------------------------

    def verify_webhook(self, integration: Integration, request: InboundRequest) -> None:
        """Check ``x-paystack-signature`` against the HMAC-SHA512 of the raw body (constant time)."""
        given = request.header(SIGNATURE_HEADER)
        if not given:
            raise AuthFailed("the Paystack delivery is not signed")
        secret = _secret_key(integration.credentials)
        if not hmac.compare_digest(given.strip().lower().encode(), sign(secret, request.body).encode()):
            raise AuthFailed("the Paystack delivery's signature does not match")

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        """The SMEFlow event of a Paystack delivery (none for events SMEFlow does not track)."""
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            raise InvalidResponse("the Paystack delivery has no event")
        name = body["event"]
        if name not in _TRACKED:
            return []  # disputes, subscriptions, refund.pending…: acknowledged, not tracked
        return [_event_of(name, _object(body.get("data")))]

    # --- plumbing -------------------------------------------------------------------------

    async def _call(self, ctx: ActionContext, method: str, path: str, *, json: Any = None) -> dict[str, Any]:
        secret = _secret_key(ctx.credentials)
        response = await ctx.http.request(
            method, path, json=json, headers={"Authorization": f"Bearer {secret}"}
        )
        return _answer(ctx, response)


def _answer(ctx: ActionContext, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if status >= 500:
        raise Unavailable(f"Paystack answered {status}")
    if status == 401:
        raise AuthFailed("Paystack refused the secret key", provider_code="401")
    body = json_body(response)
    if not isinstance(body, dict):
        raise InvalidResponse(f"Paystack answered {status} with an unexpected body")
    message = ctx.http.redact(str(body.get("message") or ""))[:200]
    if status >= 400 or body.get("status") is not True:
        code = body.get("code")
        raise Rejected(
            f"Paystack refused the request: {message or status}",
            provider_code=str(code) if code else str(status),
        )
    return body


_TRACKED = frozenset(
    {
        "charge.success",
        "charge.failed",
        "transfer.success",
        "transfer.failed",
        "transfer.reversed",
        "refund.processed",
    }
)


def _event_of(name: str, found: dict[str, Any]) -> WebhookEvent:
    ident = str(found.get("id") or found.get("refund_reference") or "")
    if not ident:
        raise InvalidResponse("the Paystack delivery's data has no id")
    event_id = f"{name}:{ident}"
    if name in ("charge.success", "charge.failed"):
        customer = found.get("customer") if isinstance(found.get("customer"), dict) else {}
        assert isinstance(customer, dict)
        data: dict[str, Any] = {
            "amount_minor": _int(found, "amount"),
            "currency": _text(found, "currency"),
            "provider_ref": ident,
        }
        if customer.get("email"):
            data["email"] = str(customer["email"])
        phone = _phone(customer.get("phone"))
        if phone:
            data["phone"] = phone
        succeeded = name == "charge.success" and found.get("status") == "success"
        if not succeeded:
            data["reason"] = str(found.get("gateway_response") or found.get("message") or "failed")
            data["provider_code"] = str(found.get("status") or "failed")
        kind = "payment.succeeded" if succeeded else "payment.failed"
        return WebhookEvent(event_id=event_id, kind=kind, reference=_text(found, "reference"), data=data)
    if name in ("transfer.success", "transfer.failed", "transfer.reversed"):
        data = {
            "amount_minor": _int(found, "amount"),
            "currency": _text(found, "currency"),
            "provider_ref": str(found.get("transfer_code") or ident),
        }
        if name != "transfer.success":
            outcome = name.split(".")[1]
            data["reason"] = "the transfer was reversed" if outcome == "reversed" else "the transfer failed"
            data["provider_code"] = outcome
        kind = "transfer.succeeded" if name == "transfer.success" else "transfer.failed"
        return WebhookEvent(event_id=event_id, kind=kind, reference=_text(found, "reference"), data=data)
    # refund.processed
    reference = found.get("transaction_reference")
    transaction = found.get("transaction")
    if not reference and isinstance(transaction, dict):
        reference = transaction.get("reference")
    data = {
        "amount_minor": _int(found, "amount"),
        "currency": _text(found, "currency"),
        "provider_ref": ident,
    }
    return WebhookEvent(event_id=event_id, kind="refund.processed", reference=_optional(reference), data=data)


def _transfer_out(found: dict[str, Any], reference: str) -> TransferOut:
    return TransferOut(
        transfer_code=_text(found, "transfer_code"),
        reference=str(found.get("reference") or reference),
        status=TRANSFER_STATUSES.get(str(found.get("status")), "pending"),
        amount_minor=_int(found, "amount"),
        currency=_text(found, "currency"),
    )


def _secret_key(credentials: object) -> str:
    if not isinstance(credentials, PaystackCredentials):
        raise AuthFailed("the integration has no Paystack secret key")
    return credentials.secret_key.get_secret_value()


def _key(ctx: ActionContext) -> str:
    if not ctx.idempotency_key:
        raise Rejected("a Paystack payment needs the step's idempotency key (run it from a workflow)")
    return ctx.idempotency_key


def _path(reference: str) -> str:
    if not all(c.isalnum() or c in "-.=_" for c in reference):
        raise Rejected("a Paystack reference has only letters, digits and - . = _")
    return reference


def _phone(value: Any) -> str | None:
    if not isinstance(value, str) or not value.startswith("+"):
        return None
    try:
        return to_e164(value)
    except PhoneError:
        return None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidResponse("Paystack's answer has no data object")
    return value


def _text(found: dict[str, Any], name: str) -> str:
    value = found.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidResponse(f"Paystack's answer has no {name}")
    return value


def _int(found: dict[str, Any], name: str) -> int:
    value = found.get(name)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidResponse(f"Paystack's answer has no whole {name}")
    return value


def _optional(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


__all__ = ["SIGNATURE_HEADER", "Paystack", "reference_for", "sign"]
