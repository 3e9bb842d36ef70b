"""How each payment connector starts a payment and reports where it stands (the built-in three).

The gateways call connector actions by name with plain inputs, so this module depends on the SDK
only. Each one passes the payment's reference as the idempotency key (the provider's reference
is derived from it), and checks the provider's amount and currency against the payment's (the
state machine refuses a success for another amount too).
"""

from __future__ import annotations

from typing import Any

from smeflow.connectors import ActionContext, Connector, Rejected
from smeflow.payments._flow import Gateway, Started
from smeflow.payments._states import Observed
from smeflow.payments.models import Payment

_OBSERVABLE = {"pending", "succeeded", "failed", "reversed"}


def _observed(out: dict[str, Any], *, status: str | None = None) -> Observed:
    raw = status or str(out.get("status", "pending"))
    # Paystack says "abandoned" for a checkout not completed *yet*: still pending for us.
    mapped = raw if raw in _OBSERVABLE else "pending"
    return Observed(
        mapped,  # type: ignore[arg-type]
        amount_minor=out.get("amount_minor"),
        currency=out.get("currency"),
        provider_ref=out.get("provider_ref"),
        reason=out.get("reason"),
        code=out.get("result_code"),
    )


class MpesaGateway:
    """M-Pesa Express: an STK Push prompt on the customer's phone; STK Query for the outcome."""

    async def start(self, connector: Connector, ctx: ActionContext, payment: Payment) -> Started:
        if not payment.phone:
            raise Rejected("an M-Pesa payment needs the customer's phone number")
        reference = (payment.description or payment.reference)[:12]
        out = await connector.call(
            "stk_push",
            ctx,
            {
                "amount_minor": payment.amount_minor,
                "currency": payment.currency,
                "phone": payment.phone,
                "account_reference": "".join(c for c in reference if c.isalnum())[:12] or "SMEFlow",
                "description": (payment.description or "Payment")[:13],
            },
        )
        return Started(provider_reference=out.model_dump()["checkout_request_id"])

    async def status(self, connector: Connector, ctx: ActionContext, payment: Payment) -> Observed:
        if not payment.provider_reference:
            return Observed("pending")
        out = await connector.call("stk_query", ctx, {"checkout_request_id": payment.provider_reference})
        return _observed(out.model_dump())


class PaystackGateway:
    """Paystack: a checkout link (card, bank, USSD, mobile money); Verify for the outcome."""

    def __init__(self, return_url: str | None = None) -> None:
        self.return_url = return_url

    async def start(self, connector: Connector, ctx: ActionContext, payment: Payment) -> Started:
        if not payment.email:
            raise Rejected("a Paystack payment needs the customer's email address")
        given: dict[str, Any] = {
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "email": payment.email,
        }
        if self.return_url:
            given["callback_url"] = self.return_url
        out = (await connector.call("initialize_transaction", ctx, given)).model_dump()
        return Started(provider_reference=out["reference"], checkout_url=out["authorization_url"])

    async def status(self, connector: Connector, ctx: ActionContext, payment: Payment) -> Observed:
        out = await connector.call(
            "verify_transaction", ctx, {"reference": payment.provider_reference or payment.reference}
        )
        return _observed(out.model_dump())


class FlutterwaveGateway:
    """Flutterwave Standard: a checkout link; verify by the transaction reference for the outcome."""

    def __init__(self, return_url: str) -> None:
        self.return_url = return_url

    async def start(self, connector: Connector, ctx: ActionContext, payment: Payment) -> Started:
        if not payment.email:
            raise Rejected("a Flutterwave payment needs the customer's email address")
        given: dict[str, Any] = {
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "email": payment.email,
            "redirect_url": self.return_url,
        }
        if payment.phone:
            given["phone"] = payment.phone
        if payment.description:
            given["description"] = payment.description
        out = (await connector.call("create_payment", ctx, given)).model_dump()
        return Started(provider_reference=out["tx_ref"], checkout_url=out["link"])

    async def status(self, connector: Connector, ctx: ActionContext, payment: Payment) -> Observed:
        out = await connector.call(
            "verify_by_reference", ctx, {"tx_ref": payment.provider_reference or payment.reference}
        )
        return _observed(out.model_dump())


def builtin_gateways(public_url: str | None) -> dict[str, Gateway]:
    """The gateways of the built-in payment connectors, by connector key."""
    return_url = f"{(public_url or 'http://127.0.0.1:8000').rstrip('/')}/"
    return {
        "mpesa": MpesaGateway(),
        "paystack": PaystackGateway(return_url),
        "flutterwave": FlutterwaveGateway(return_url),
    }


__all__ = ["FlutterwaveGateway", "MpesaGateway", "PaystackGateway", "builtin_gateways"]
