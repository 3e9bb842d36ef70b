"""A Flutterwave v3 sandbox: the REST API SMEFlow's connector uses (under ``/v3``), with Bearer
secret-key checks, v3 envelopes and status codes, and ``charge.completed`` webhooks carrying both
``verif-hash`` and ``flutterwave-signature``."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors.flutterwave._connector import HASH_HEADER, SIGNATURE_HEADER, signature
from smeflow.connectors.sandbox._base import Sandbox
from smeflow.core.money import EXPONENTS, exponent

Handler = Callable[[Request, Any], Awaitable[Response]]
CURRENCIES = tuple(sorted(EXPONENTS))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(message: str, status: int = 400) -> Response:
    return JSONResponse({"status": "error", "message": message, "data": None}, status_code=status)


def _number(value: Decimal) -> int | float:
    """A major-unit amount as a JSON number (exact for the amounts a sandbox sees)."""
    return int(value) if value == value.to_integral_value() else float(value)


class FlutterwaveSandbox(Sandbox):
    """Flutterwave v3 on loopback (see ``scenarios``)."""

    key = "flutterwave"
    title = "Flutterwave v3"
    scenarios = """\
Flutterwave v3 sandbox: base URL = the server's root + /v3 (as https://api.flutterwave.com/v3).
Secret key: `Authorization: Bearer <secret_key>` (constructor argument, default
FLWSECK_TEST-sandbox0123456789abcdef-X); any other → 401 {"status": "error", "message":
"Invalid authorization key", "data": null}. Webhooks carry `verif-hash: <secret_hash>` (constructor
argument, default sandbox-secret-hash) and `flutterwave-signature: base64(HMAC-SHA256(secret_hash,
raw body))`; script("signature", "legacy") sends the next one with verif-hash only.

Where webhooks go: FlutterwaveSandbox(webhook_url=...), or POST /__sandbox/webhook {"url": "..."}.

Checkout: POST /v3/payments answers a hosted link; as at Flutterwave, no transaction exists until
the customer pays (verify_by_reference → 400 "No transaction was found for this tx_ref").
The customer pays with
  POST /__sandbox/complete/{tx_ref}  {"outcome"?: "successful"|"failed"|"pending"|"abandoned",
     "paid_amount"?: major units actually paid, "paid_currency"?: currency actually paid,
     "webhook"?: "normal"|"drop"|"twice", "delay"?: seconds}
which creates the transaction (verify by id or tx_ref then answers it), sends charge.completed
(successful and failed alike; none while pending; nothing at all for abandoned), and answers
{"tx_ref", "transaction_id", "status", "redirect"}. A pending transaction can be completed again.
"paid_amount"/"paid_currency" simulate a customer paying less or in another currency (the fraud the
connector's expected_amount_minor / expected_currency checks refuse).
Outcome when "outcome" is absent: script("charge", outcome), else the customer's email:
  decline@… → failed ("Declined"), pending@… → pending, abandon@… → abandoned, else successful.
Webhook controls for the next delivery: script("webhook", "drop" | "twice" | <delay seconds>).
A tx_ref used before → 400 "Duplicate transaction reference". An amount with more decimals than
its currency allows (UGX, RWF: none) → 400. script("answer", (status, body)) answers the next API call.
"""

    def __init__(
        self,
        *,
        secret_key: str = "FLWSECK_TEST-sandbox0123456789abcdef-X",  # noqa: S107 (a sandbox key)
        secret_hash: str = "sandbox-secret-hash",  # noqa: S107 (a sandbox hash)
        webhook_url: str | None = None,
    ) -> None:
        super().__init__()
        self.secret_key = secret_key
        self.secret_hash = secret_hash
        self.webhook_url = webhook_url
        self.payments: dict[str, dict[str, Any]] = {}
        self.transactions: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(4_975_363)

    def routes(self) -> list[BaseRoute]:
        api = self._api
        return [
            Route("/v3/balances", api(self._balances), methods=["GET"]),
            Route("/v3/payments", api(self._payments), methods=["POST"]),
            Route("/v3/transactions/verify_by_reference", api(self._verify_by_reference), methods=["GET"]),
            Route("/v3/transactions/{id:int}/verify", api(self._verify), methods=["GET"]),
            Route("/__sandbox/webhook", self._set_webhook, methods=["POST"]),
            Route("/__sandbox/complete/{tx_ref}", self._complete, methods=["POST"]),
        ]

    def delivery(self, data: dict[str, Any], *, legacy: bool = False) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a genuine ``charge.completed`` delivery of a transaction."""
        body = orjson.dumps({"event": "charge.completed", "data": data, "event.type": "CARD_TRANSACTION"})
        headers = {"content-type": "application/json", HASH_HEADER: self.secret_hash}
        if not legacy:
            headers[SIGNATURE_HEADER] = signature(self.secret_hash, body)
        return body, headers

    # --- the API --------------------------------------------------------------------------

    def _api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                return _error("Invalid JSON body")
            self.record(request.method, request.url.path, body)
            if request.headers.get("authorization", "") != f"Bearer {self.secret_key}":
                return _error("Invalid authorization key", 401)
            scripted = self.scripted("answer")
            if scripted is not None:
                status, answer = scripted
                return JSONResponse(answer, status_code=status)
            return await handler(request, body)

        return endpoint

    async def _balances(self, request: Request, body: Any) -> Response:
        data = [{"currency": c, "available_balance": 0, "ledger_balance": 0} for c in ("NGN", "KES", "GHS")]
        return JSONResponse({"status": "success", "message": "Wallet balances fetched", "data": data})

    async def _payments(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict):
            return _error("Invalid request body")
        tx_ref, currency = body.get("tx_ref"), body.get("currency", "NGN")
        customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
        if not isinstance(tx_ref, str) or not tx_ref:
            return _error("tx_ref is required")
        if currency not in CURRENCIES:
            return _error("Invalid currency")
        amount = _amount(body.get("amount"), currency)
        if amount is None:
            return _error("amount must be a valid number with the decimals its currency allows")
        if not isinstance(body.get("redirect_url"), str):
            return _error("redirect_url is required")
        if not isinstance(customer, dict) or not isinstance(customer.get("email"), str):
            return _error("customer.email is required")
        if tx_ref in self.payments:
            return _error("Duplicate transaction reference")
        link = f"https://checkout.flutterwave.com/v3/hosted/pay/{secrets.token_hex(10)}"
        self.payments[tx_ref] = {
            "tx_ref": tx_ref,
            "amount": amount,
            "currency": currency,
            "redirect_url": body["redirect_url"],
            "customer": customer,
            "link": link,
            "transaction_id": None,
        }
        return JSONResponse({"status": "success", "message": "Hosted Link", "data": {"link": link}})

    async def _verify(self, request: Request, body: Any) -> Response:
        found = self.transactions.get(request.path_params["id"])
        if found is None:
            return _error("No transaction was found for this id")
        return JSONResponse(
            {"status": "success", "message": "Transaction fetched successfully", "data": found}
        )

    async def _verify_by_reference(self, request: Request, body: Any) -> Response:
        payment = self.payments.get(request.query_params.get("tx_ref", ""))
        if payment is None or payment["transaction_id"] is None:
            return _error("No transaction was found for this tx_ref")
        found = self.transactions[payment["transaction_id"]]
        return JSONResponse(
            {"status": "success", "message": "Transaction fetched successfully", "data": found}
        )

    # --- sandbox controls -----------------------------------------------------------------

    async def _set_webhook(self, request: Request) -> Response:
        try:
            url = orjson.loads(await request.body()).get("url")
        except (orjson.JSONDecodeError, AttributeError):
            url = None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return JSONResponse({"error": "url must be an http(s) URL"}, status_code=400)
        self.webhook_url = url
        return JSONResponse({"url": url})

    async def _complete(self, request: Request) -> Response:
        tx_ref = request.path_params["tx_ref"]
        raw = await request.body()
        try:
            asked = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            asked = None
        if not isinstance(asked, dict):
            return JSONResponse({"error": "the body is a JSON object"}, status_code=400)
        payment = self.payments.get(tx_ref)
        if payment is None:
            return JSONResponse({"error": "no such payment"}, status_code=404)
        existing = self.transactions.get(payment["transaction_id"]) if payment["transaction_id"] else None
        if existing is not None and existing["status"] != "pending":
            return JSONResponse({"error": f"the transaction is {existing['status']}"}, status_code=409)
        email = str(payment["customer"].get("email", "")).lower()
        magic = {"decline": "failed", "pending": "pending", "abandon": "abandoned"}.get(email.split("@")[0])
        outcome = asked.get("outcome") or self.scripted("charge") or magic or "successful"
        if outcome not in ("successful", "failed", "pending", "abandoned"):
            return JSONResponse({"error": f"unknown outcome {outcome!r}"}, status_code=400)
        if outcome == "abandoned":
            return JSONResponse(
                {"tx_ref": tx_ref, "transaction_id": None, "status": "abandoned", "redirect": None}
            )
        currency = asked.get("paid_currency") or payment["currency"]
        paid = _amount(asked["paid_amount"], currency) if "paid_amount" in asked else payment["amount"]
        if currency not in CURRENCIES or paid is None:
            return JSONResponse({"error": "amount or currency cannot be paid"}, status_code=400)
        record = existing or self._transaction(payment)
        fee = (paid * Decimal("0.014")).quantize(Decimal(1).scaleb(-exponent(currency)))
        record.update(
            amount=_number(paid),
            charged_amount=_number(paid),
            app_fee=_number(fee),
            amount_settled=_number(paid - fee),
            currency=currency,
            status=outcome,
            processor_response={"successful": "Approved", "failed": "Declined"}.get(
                outcome, "Pending validation"
            ),
        )
        webhook = "none"
        if outcome != "pending":
            plan = asked.get("webhook")
            if asked.get("delay") is not None and plan in (None, "normal"):
                plan = float(asked["delay"])
            webhook = self._send(record, self.scripted("webhook") if plan is None else plan)
        query = urlencode({"status": outcome, "tx_ref": tx_ref, "transaction_id": record["id"]})
        return JSONResponse(
            {
                "tx_ref": tx_ref,
                "transaction_id": record["id"],
                "status": outcome,
                "redirect": f"{payment['redirect_url']}?{query}",
                "webhook": webhook,
            }
        )

    def _transaction(self, payment: dict[str, Any]) -> dict[str, Any]:
        ident = next(self._ids)
        customer = payment["customer"]
        record: dict[str, Any] = {
            "id": ident,
            "tx_ref": payment["tx_ref"],
            "flw_ref": f"FLW-MOCK-{secrets.token_hex(16)}",
            "device_fingerprint": "N/A",
            "merchant_fee": 0,
            "auth_model": "PIN",
            "ip": "127.0.0.1",
            "narration": "CARD Transaction ",
            "payment_type": "card",
            "created_at": _now(),
            "account_id": 118468,
            "card": {
                "first_6digits": "553188",
                "last_4digits": "2950",
                "issuer": "MASTERCARD CREDIT",
                "country": "NG",
                "type": "MASTERCARD",
                "expiry": "09/32",
            },
            "customer": {
                "id": next(self._ids),
                "name": customer.get("name") or "Anonymous customer",
                "phone_number": customer.get("phonenumber") or "N/A",
                "email": customer["email"],
                "created_at": _now(),
            },
        }
        self.transactions[ident] = record
        payment["transaction_id"] = ident
        return record

    def _send(self, record: dict[str, Any], plan: Any) -> str:
        if not self.webhook_url:
            return "none"
        body, headers = self.delivery(record, legacy=self.scripted("signature") == "legacy")
        times, delay = 1, 0.0
        if plan == "drop":
            times = 0
        elif plan == "twice":
            times = 2
        elif isinstance(plan, int | float) and not isinstance(plan, bool):
            delay = float(plan)
        self.callbacks.send(self.webhook_url, body, headers, delay=delay, times=times)
        return "dropped" if times == 0 else "sent"


def _amount(value: Any, currency: str) -> Decimal | None:
    """A positive major-unit amount with at most the currency's decimals, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0:
        return None
    if amount.scaleb(exponent(currency)) != amount.scaleb(exponent(currency)).to_integral_value():
        return None
    return amount


__all__ = ["FlutterwaveSandbox"]
