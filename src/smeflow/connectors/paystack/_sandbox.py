"""A Paystack sandbox: the REST API SMEFlow's connector uses, with Paystack's paths, Bearer
secret-key checks, envelopes and status codes, and signed webhooks to the integration's URL."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors.paystack._sandbox_base import (
    CURRENCIES,
    PaystackSandboxBase,
    ok,
    public,
    read,
    refused,
    timestamp,
    whole,
)

_REFERENCE = re.compile(r"^[A-Za-z0-9.=-]{1,100}$")


class PaystackSandbox(PaystackSandboxBase):
    """Paystack on loopback (see ``scenarios``)."""

    key = "paystack"
    title = "Paystack"
    scenarios = """\
Paystack sandbox: base URL = the server's root (as https://api.paystack.co). Secret key:
`Authorization: Bearer <secret_key>` (constructor argument, default sk_test_sandbox_0123456789);
any other → 401 {"status": false, "message": "Invalid key"}. Webhooks are signed with the same key
(x-paystack-signature = hex HMAC-SHA512 of the raw body).

Where webhooks go: PaystackSandbox(webhook_url=...), or POST /__sandbox/webhook {"url": "..."}.

Checkout: POST /transaction/initialize leaves the transaction `abandoned` (Paystack's word for
"the customer has not completed it") until the customer pays:
  POST /__sandbox/complete/{reference}  {"outcome"?: "success"|"failed"|"abandoned"|"pending",
                                         "webhook"?: "normal"|"drop"|"twice", "delay"?: seconds}
answers {"reference", "status", "redirect"} and, on success, sends charge.success. As Paystack
does, failed charges send no webhook (verify says `failed`, gateway_response "Declined").
Outcome when "outcome" is absent: script("charge", outcome), else the customer's email:
  decline@… → failed, abandon@… → abandoned (nothing happens), pending@… → ongoing, else success.
Refunds: POST /refund (succeeded transactions only, at most what remains) answers `pending` and
sends refund.processed; a whole refund makes the transaction `reversed`.
Transfers: POST /transferrecipient (an account already registered answers the existing
recipient), POST /transfer answers `pending` and sends transfer.success; script("transfer",
"failed"|"reversed") or an amount whose minor units end in 13 (failed) or 14 (reversed) changes
that; more than the balance (NGN 10,000,000,000.00 etc.) → 400 insufficient_balance.
GET /transfer/verify/{reference} reads a transfer. State changes at once; only the webhook waits.

Webhook controls for the next delivery: script("webhook", "drop" | "twice" | <delay seconds>)
or the complete call's "webhook"/"delay". Duplicate references → 400 code duplicate_reference.
script("answer", (status, body)) answers the next API call with that (e.g. (500, {...})).
"""

    def routes(self) -> list[BaseRoute]:
        api = self._api
        return [
            Route("/balance", api(self._balance), methods=["GET"]),
            Route("/transaction/initialize", api(self._initialize), methods=["POST"]),
            Route("/transaction/verify/{reference}", api(self._verify), methods=["GET"]),
            Route("/refund", api(self._refund), methods=["POST"]),
            Route("/transferrecipient", api(self._recipient), methods=["POST"]),
            Route("/transfer", api(self._transfer), methods=["POST"]),
            Route("/transfer/verify/{reference}", api(self._verify_transfer), methods=["GET"]),
            Route("/__sandbox/webhook", self._set_webhook, methods=["POST"]),
            Route("/__sandbox/complete/{reference}", self._complete, methods=["POST"]),
        ]

    async def _balance(self, request: Request, body: Any) -> Response:
        data = [{"currency": c, "balance": b} for c, b in self.balances.items()]
        return ok("Balances retrieved", data)

    async def _initialize(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict):
            return refused("Invalid request body")
        email, amount, currency = body.get("email"), whole(body.get("amount")), body.get("currency", "NGN")
        reference = body.get("reference") or secrets.token_hex(5)
        if not isinstance(email, str) or "@" not in email:
            return refused("Invalid Email Address Passed")
        if amount is None or amount <= 0:
            return refused("Invalid Amount Sent")
        if currency not in CURRENCIES:
            return refused(
                "Currency not supported by merchant", kind="validation_error", code="unsupported_currency"
            )
        if not isinstance(reference, str) or not _REFERENCE.match(reference):
            return refused("Invalid transaction reference: only -, ., = and alphanumeric characters allowed")
        if reference in self.transactions:
            return JSONResponse(
                {
                    "status": False,
                    "message": "Duplicate Transaction Reference",
                    "meta": {"nextStep": "Try and create the Transaction or Charge with a new reference"},
                    "type": "validation_error",
                    "code": "duplicate_reference",
                    "errorCodeMappingNotFound": False,
                },
                status_code=400,
            )
        access_code = secrets.token_hex(8)
        now = timestamp()
        self.transactions[reference] = {
            "id": next(self._ids),
            "domain": "test",
            "status": "abandoned",
            "reference": reference,
            "receipt_number": None,
            "amount": amount,
            "message": None,
            "gateway_response": "The transaction was not completed",
            "paid_at": None,
            "created_at": now,
            "channel": "card",
            "currency": currency,
            "ip_address": "127.0.0.1",
            "metadata": body.get("metadata") or "",
            "log": None,
            "fees": None,
            "fees_split": None,
            "authorization": {},
            "customer": {
                "id": next(self._ids),
                "first_name": None,
                "last_name": None,
                "email": email,
                "customer_code": f"CUS_{secrets.token_hex(7)}",
                "phone": None,
                "metadata": None,
                "risk_action": "default",
            },
            "plan": None,
            "split": {},
            "order_id": None,
            "paidAt": None,
            "createdAt": now,
            "requested_amount": amount,
            "transaction_date": now,
            "_callback_url": body.get("callback_url"),
            "_refunded": 0,
        }
        data = {
            "authorization_url": f"https://checkout.paystack.com/{access_code}",
            "access_code": access_code,
            "reference": reference,
        }
        return ok("Authorization URL created", data)

    async def _verify(self, request: Request, body: Any) -> Response:
        found = self.transactions.get(request.path_params["reference"])
        if found is None:
            return refused("Transaction reference not found", code="transaction_not_found")
        return ok("Verification successful", public(found))

    async def _complete(self, request: Request) -> Response:
        reference = request.path_params["reference"]
        asked = await read(request)
        asked = asked if isinstance(asked, dict) else {}
        found = self.transactions.get(reference)
        if found is None:
            return JSONResponse({"error": "no such transaction"}, status_code=404)
        if found["status"] not in ("abandoned", "ongoing"):
            return JSONResponse({"error": f"the transaction is {found['status']}"}, status_code=409)
        email = str(found["customer"]["email"]).lower()
        magic = {"decline": "failed", "abandon": "abandoned", "pending": "pending"}.get(email.split("@")[0])
        outcome = asked.get("outcome") or self.scripted("charge") or magic or "success"
        now = timestamp()
        webhook = "none"
        if outcome == "success":
            found.update(
                status="success",
                gateway_response="Successful",
                paid_at=now,
                paidAt=now,
                fees=min(200_000, found["amount"] * 15 // 1000),
            )
            found["authorization"] = {
                "authorization_code": f"AUTH_{secrets.token_hex(5)}",
                "bin": "408408",
                "last4": "4081",
                "exp_month": "12",
                "exp_year": "2030",
                "channel": "card",
                "card_type": "visa DEBIT",
                "bank": "TEST BANK",
                "country_code": "NG",
                "brand": "visa",
                "reusable": True,
                "signature": f"SIG_{secrets.token_hex(6)}",
                "account_name": None,
            }
            plan = asked.get("webhook")
            if asked.get("delay") is not None and plan in (None, "normal"):
                plan = float(asked["delay"])
            webhook = self._send("charge.success", public(found), plan)
        elif outcome == "failed":
            found.update(status="failed", gateway_response="Declined")
        elif outcome == "pending":
            found.update(status="ongoing", gateway_response="Awaiting the customer")
        elif outcome != "abandoned":
            return JSONResponse({"error": f"unknown outcome {outcome!r}"}, status_code=400)
        callback = found.get("_callback_url")
        redirect = f"{callback}?trxref={reference}&reference={reference}" if callback else None
        return JSONResponse(
            {"reference": reference, "status": found["status"], "redirect": redirect, "webhook": webhook}
        )


__all__ = ["PaystackSandbox"]
