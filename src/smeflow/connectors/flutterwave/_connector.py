"""The Flutterwave v3 connector: standard checkout, verification by id and by tx_ref (with the
amount and currency checks), and webhooks authenticated by ``verif-hash`` or the HMAC signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import httpx

from smeflow.connectors._errors import AuthFailed, InvalidResponse, Rejected, Unavailable
from smeflow.connectors._sdk import (
    ActionContext,
    Connector,
    InboundRequest,
    Integration,
    WebhookEvent,
    action,
)
from smeflow.connectors.flutterwave._models import (
    STATUSES,
    CreatePaymentIn,
    CreatePaymentOut,
    FlutterwaveConfig,
    FlutterwaveCredentials,
    VerifyByReferenceIn,
    VerifyIn,
    VerifyOut,
)
from smeflow.core.money import MoneyError, from_major, to_major
from smeflow.core.phones import PhoneError, to_e164

HASH_HEADER = "verif-hash"
SIGNATURE_HEADER = "flutterwave-signature"


def tx_ref_for(idempotency_key: str) -> str:
    """The ``tx_ref`` of an idempotency key: ``sf-`` + 40 hex digits (stable, so a repeated call
    sends the same tx_ref and Flutterwave refuses it as a duplicate)."""
    return "sf-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def signature(secret_hash: str, body: bytes) -> str:
    """The ``flutterwave-signature`` of a body: base64 of HMAC-SHA256 keyed with the secret hash."""
    return base64.b64encode(hmac.new(secret_hash.encode(), body, hashlib.sha256).digest()).decode()


def major_text(amount_minor: int, currency: str) -> str:
    """An amount in major units as Flutterwave reads it (``150050`` KES → ``"1500.50"``, UGX ``"5000"``)."""
    return format(to_major(amount_minor, currency), "f")


class Flutterwave(Connector):
    """Flutterwave v3 (Nigeria, Ghana, Kenya, Uganda, South Africa…): see the package docstring."""

    key = "flutterwave"
    version = "1.0.0"
    title = "Flutterwave"
    description = (
        "Card, mobile-money, bank-transfer and USSD payments through Flutterwave's hosted checkout "
        "(v3 API), verified by transaction id or tx_ref."
    )
    default_base_url = "https://api.flutterwave.com/v3"
    credentials_model = FlutterwaveCredentials
    config_model = FlutterwaveConfig
    countries = ("NG", "GH", "KE", "UG", "TZ", "RW", "ZA", "ZM", "CM", "CI", "SN", "EG")
    webhook_auth = "signature"
    webhook_events = ("payment.succeeded", "payment.failed")

    async def check(self, ctx: ActionContext) -> None:
        """Read the wallet balances (a cheap authenticated call): :class:`AuthFailed` if refused."""
        await self._call(ctx, "GET", "/balances")

    @action("create_payment", effect="money", title="Start a Flutterwave checkout")
    async def create_payment(self, ctx: ActionContext, data: CreatePaymentIn) -> CreatePaymentOut:
        """Create a Flutterwave hosted checkout link for a customer to pay amount_minor in
        currency; returns the link and the tx_ref the payment is tracked by (payment.succeeded
        arrives with it; verify_by_reference reads it). The tx_ref comes from the step's
        idempotency key, so a repeated call is refused by Flutterwave instead of charging twice."""
        if not ctx.idempotency_key:
            raise Rejected("a Flutterwave payment needs the step's idempotency key (run it from a workflow)")
        tx_ref = tx_ref_for(ctx.idempotency_key)
        customer: dict[str, str] = {"email": data.email}
        if data.phone:
            customer["phonenumber"] = data.phone
        if data.name:
            customer["name"] = data.name
        body: dict[str, Any] = {
            "tx_ref": tx_ref,
            "amount": major_text(data.amount_minor, data.currency),
            "currency": data.currency,
            "redirect_url": data.redirect_url,
            "customer": customer,
        }
        if data.title or data.description:
            body["customizations"] = {
                k: v for k, v in (("title", data.title), ("description", data.description)) if v
            }
        if data.payment_options:
            body["payment_options"] = data.payment_options
        if data.session_duration:
            body["session_duration"] = data.session_duration
        answer = await self._call(ctx, "POST", "/payments", json=body)
        link = _object(answer.get("data")).get("link")
        if not isinstance(link, str) or not link.startswith("https://"):
            raise InvalidResponse("Flutterwave's answer has no checkout link")
        return CreatePaymentOut(link=link, tx_ref=tx_ref)

    @action("verify_transaction", effect="read", title="Verify a Flutterwave payment by id")
    async def verify_transaction(self, ctx: ActionContext, data: VerifyIn) -> VerifyOut:
        """Ask Flutterwave for a transaction by its id (transaction_id on the redirect, or the
        webhook's): succeeded, failed or pending, with the amount and currency Flutterwave holds.
        With expected_amount_minor / expected_currency / expected_tx_ref, a transaction for less,
        in another currency or for another tx_ref is refused: a customer can pay a smaller amount
        on a checkout page, so only a verified amount grants value."""
        answer = await self._call(ctx, "GET", f"/transactions/{data.transaction_id}/verify")
        out = _verified(_object(answer.get("data")))
        if out.transaction_id != data.transaction_id:
            raise InvalidResponse("Flutterwave answered for another transaction")
        if data.expected_tx_ref is not None and out.tx_ref != data.expected_tx_ref:
            raise Rejected(
                f"the transaction {data.transaction_id} is not for {data.expected_tx_ref}",
                extra={"check": "tx_ref"},
            )
        return _checked(out, data.expected_amount_minor, data.expected_currency)

    @action("verify_by_reference", effect="read", title="Verify a Flutterwave payment by tx_ref")
    async def verify_by_reference(self, ctx: ActionContext, data: VerifyByReferenceIn) -> VerifyOut:
        """Ask Flutterwave for the transaction of a tx_ref (the one create_payment returned), to
        reconcile a payment whose webhook was lost: succeeded, failed or pending, with the
        amount and currency, checked against expected_amount_minor / expected_currency if given.
        Refused while the customer has not paid (Flutterwave has no transaction yet)."""
        answer = await self._call(
            ctx, "GET", "/transactions/verify_by_reference", params={"tx_ref": data.tx_ref}
        )
        out = _verified(_object(answer.get("data")))
        if out.tx_ref != data.tx_ref:
            raise InvalidResponse("Flutterwave answered for another tx_ref")
        return _checked(out, data.expected_amount_minor, data.expected_currency)

    # --- webhooks -------------------------------------------------------------------------

    def verify_webhook(self, integration: Integration, request: InboundRequest) -> None:
        """Check ``flutterwave-signature`` (HMAC-SHA256 of the raw body with the secret hash) when
        the delivery has it, else the legacy ``verif-hash`` (equal to the secret hash); constant time."""
        credentials = integration.credentials
        if not isinstance(credentials, FlutterwaveCredentials):
            raise AuthFailed("the integration has no Flutterwave secret hash")
        secret_hash = credentials.secret_hash.get_secret_value()
        signed = request.header(SIGNATURE_HEADER)
        if signed:
            if not hmac.compare_digest(
                signed.strip().encode(), signature(secret_hash, request.body).encode()
            ):
                raise AuthFailed("the Flutterwave delivery's signature does not match")
            return
        config = integration.config
        if isinstance(config, FlutterwaveConfig) and config.require_signature:
            raise AuthFailed("the Flutterwave delivery is not signed (flutterwave-signature)")
        given = request.header(HASH_HEADER)
        if not given or not hmac.compare_digest(given.encode(), secret_hash.encode()):
            raise AuthFailed("the Flutterwave delivery's verif-hash does not match")

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        """The SMEFlow event of a Flutterwave delivery: charge.completed is payment.succeeded or
        payment.failed by its data.status (none while pending, none for other events)."""
        body = _loads(request.body, "the Flutterwave delivery is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            raise InvalidResponse("the Flutterwave delivery has no event")
        if body["event"] != "charge.completed":
            return []
        found = _object(body.get("data"))
        out = _verified(found)
        if out.status == "pending":
            return []
        data: dict[str, Any] = {
            "amount_minor": out.amount_minor,
            "currency": out.currency,
            "provider_ref": out.provider_ref,
        }
        customer = found.get("customer") if isinstance(found.get("customer"), dict) else {}
        assert isinstance(customer, dict)
        if customer.get("email"):
            data["email"] = str(customer["email"])
        phone = _phone(customer.get("phone_number"))
        if phone:
            data["phone"] = phone
        if out.status == "failed":
            data["reason"] = out.reason or "failed"
            data["provider_code"] = "failed"
        return [
            WebhookEvent(
                event_id=f"charge.completed:{out.transaction_id}:{found.get('status')}",
                kind="payment.succeeded" if out.status == "succeeded" else "payment.failed",
                reference=out.tx_ref,
                data=data,
            )
        ]

    # --- plumbing -------------------------------------------------------------------------

    async def _call(
        self,
        ctx: ActionContext,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        credentials = ctx.credentials
        if not isinstance(credentials, FlutterwaveCredentials):
            raise AuthFailed("the integration has no Flutterwave secret key")
        headers = {"Authorization": f"Bearer {credentials.secret_key.get_secret_value()}"}
        response = await ctx.http.request(method, path, json=json, params=params, headers=headers)
        return _answer(ctx, response)


def _answer(ctx: ActionContext, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if status >= 500:
        raise Unavailable(f"Flutterwave answered {status}")
    if status == 401:
        raise AuthFailed("Flutterwave refused the secret key", provider_code="401")
    body = _loads(response.content, f"Flutterwave answered {status} with a body that is not JSON")
    if not isinstance(body, dict):
        raise InvalidResponse(f"Flutterwave answered {status} with an unexpected body")
    if status >= 400 or body.get("status") != "success":
        message = ctx.http.redact(str(body.get("message") or status))[:200]
        raise Rejected(f"Flutterwave refused the request: {message}", provider_code=str(status))
    return body


def _verified(found: dict[str, Any]) -> VerifyOut:
    ident, currency = found.get("id"), found.get("currency")
    if isinstance(ident, bool) or not isinstance(ident, int) or not isinstance(currency, str):
        raise InvalidResponse("Flutterwave's transaction has no id or currency")
    tx_ref = found.get("tx_ref")
    if not isinstance(tx_ref, str) or not tx_ref:
        raise InvalidResponse("Flutterwave's transaction has no tx_ref")
    customer = found.get("customer") if isinstance(found.get("customer"), dict) else {}
    assert isinstance(customer, dict)
    charged = found.get("charged_amount")
    return VerifyOut(
        transaction_id=ident,
        tx_ref=tx_ref,
        status=STATUSES.get(str(found.get("status")), "pending"),
        amount_minor=_minor(found.get("amount"), currency),
        currency=currency,
        charged_amount_minor=_minor(charged, currency) if charged is not None else None,
        provider_ref=str(ident),
        flw_ref=_optional(found.get("flw_ref")),
        payment_type=_optional(found.get("payment_type")),
        email=_optional(customer.get("email")),
        reason=_optional(found.get("processor_response")),
    )


def _checked(out: VerifyOut, amount_minor: int | None, currency: str | None) -> VerifyOut:
    """Flutterwave's own rule: the currency is the expected one and the amount at least the expected."""
    if currency is not None and out.currency != currency:
        raise Rejected(
            f"the payment {out.tx_ref} is in {out.currency}, not {currency}", extra={"check": "currency"}
        )
    if amount_minor is not None and out.amount_minor < amount_minor:
        raise Rejected(
            f"the payment {out.tx_ref} is for {out.amount_minor} minor units, "
            f"less than the {amount_minor} asked",
            extra={"check": "amount"},
        )
    return out


def _loads(raw: bytes, problem: str) -> Any:
    # decimals are read as Decimal so a major-unit amount converts exactly
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise InvalidResponse(problem) from None


def _minor(amount: Any, currency: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal | str):
        raise InvalidResponse("Flutterwave's transaction has no amount")
    try:
        return from_major(amount, currency)
    except MoneyError:
        raise InvalidResponse(f"Flutterwave's amount does not fit {currency}") from None


def _phone(value: Any) -> str | None:
    if not isinstance(value, str) or not value.startswith("+"):
        return None
    try:
        return to_e164(value)
    except PhoneError:
        return None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidResponse("Flutterwave's answer has no data object")
    return value


def _optional(value: Any) -> str | None:
    return str(value) if value not in (None, "", "N/A") else None


__all__ = ["HASH_HEADER", "SIGNATURE_HEADER", "Flutterwave", "major_text", "signature", "tx_ref_for"]
