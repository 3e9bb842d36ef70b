"""The Paystack sandbox's state, its signed webhook deliveries and its refund and payout
endpoints (:mod:`._sandbox` adds checkout and the scenario controls)."""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smeflow.connectors.paystack._connector import SIGNATURE_HEADER, sign
from smeflow.connectors.sandbox._base import Sandbox

CURRENCIES = ("NGN", "GHS", "ZAR", "KES", "USD")
_TRANSFER_REFERENCE = re.compile(r"^[a-z0-9_-]{16,50}$")
Handler = Callable[[Request, Any], Awaitable[Response]]


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refused(
    message: str, *, code: str | None = None, kind: str = "validation_error", status: int = 400
) -> Response:
    body: dict[str, Any] = {"status": False, "message": message, "type": kind}
    if code:
        body["code"] = code
    return JSONResponse(body, status_code=status)


def ok(message: str, data: Any, status: int = 200) -> Response:
    return JSONResponse({"status": True, "message": message, "data": data}, status_code=status)


class PaystackSandboxBase(Sandbox):
    """State, webhooks, the authenticated API wrapper, refunds and transfers."""

    def __init__(
        self,
        *,
        secret_key: str = "sk_test_sandbox_0123456789",  # noqa: S107 (a sandbox key)
        webhook_url: str | None = None,
    ) -> None:
        super().__init__()
        self.secret_key = secret_key
        self.webhook_url = webhook_url
        self.transactions: dict[str, dict[str, Any]] = {}
        self.recipients: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.balances = {currency: 1_000_000_000_000 for currency in CURRENCIES}
        self._ids = itertools.count(4_100_000_001)

    # --- webhooks -------------------------------------------------------------------------

    def delivery(self, event: str, data: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a genuine webhook delivery of ``event``."""
        body = orjson.dumps({"event": event, "data": data})
        return body, {"content-type": "application/json", SIGNATURE_HEADER: sign(self.secret_key, body)}

    def _send(self, event: str, data: dict[str, Any], plan: Any = None) -> str:
        plan = plan if plan is not None else self.scripted("webhook")
        if not self.webhook_url:
            return "none"
        body, headers = self.delivery(event, data)
        times, delay = 1, 0.0
        if plan == "drop":
            times = 0
        elif plan == "twice":
            times = 2
        elif isinstance(plan, int | float) and not isinstance(plan, bool):
            delay = float(plan)
        self.callbacks.send(self.webhook_url, body, headers, delay=delay, times=times)
        return "dropped" if times == 0 else "sent"

    async def _set_webhook(self, request: Request) -> Response:
        body = await read(request)
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return JSONResponse({"error": "url must be an http(s) URL"}, status_code=400)
        self.webhook_url = url
        return JSONResponse({"url": url})

    # --- the API --------------------------------------------------------------------------

    def _api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await read(request)
            self.record(request.method, request.url.path, body)
            if request.headers.get("authorization", "") != f"Bearer {self.secret_key}":
                return JSONResponse({"status": False, "message": "Invalid key"}, status_code=401)
            scripted = self.scripted("answer")
            if scripted is not None:
                status, answer = scripted
                return JSONResponse(answer, status_code=status)
            return await handler(request, body)

        return endpoint

    async def _refund(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict) or not body.get("transaction"):
            return refused("Transaction reference or id is required")
        wanted = str(body["transaction"])
        found = self.transactions.get(wanted) or next(
            (t for t in self.transactions.values() if str(t["id"]) == wanted), None
        )
        if found is None:
            return refused("Transaction not found", code="transaction_not_found")
        remaining = found["amount"] - found["_refunded"]
        if found["status"] == "reversed" or (found["status"] == "success" and remaining <= 0):
            return refused("Transaction has been fully reversed", code="transaction_reversed")
        if found["status"] != "success":
            return refused(
                "Cannot refund a transaction that is not successful", code="transaction_not_successful"
            )
        amount = whole(body.get("amount")) if body.get("amount") is not None else remaining
        if amount is None or amount <= 0:
            return refused("Invalid amount")
        if amount > remaining:
            return refused("Refund amount cannot be more than the unrefunded transaction amount")
        if body.get("currency") not in (None, found["currency"]):
            return refused("Currency must match the transaction's currency")
        found["_refunded"] += amount
        if found["_refunded"] == found["amount"]:
            found["status"] = "reversed"
        refund_id = next(self._ids)
        now = timestamp()
        data = {
            "transaction": {
                "id": found["id"],
                "domain": "test",
                "reference": found["reference"],
                "amount": found["amount"],
                "paid_at": found["paid_at"],
                "channel": "card",
                "currency": found["currency"],
            },
            "integration": 100032,
            "deducted_amount": 0,
            "channel": None,
            "merchant_note": body.get("merchant_note") or "",
            "customer_note": body.get("customer_note") or "",
            "status": "pending",
            "refunded_by": "sandbox@example.com",
            "expected_at": now,
            "currency": found["currency"],
            "domain": "test",
            "amount": amount,
            "fully_deducted": False,
            "id": refund_id,
            "createdAt": now,
            "updatedAt": now,
        }
        self.refunds.append(data)
        self._send(
            "refund.processed",
            {
                "status": "processed",
                "transaction_reference": found["reference"],
                "refund_reference": None,
                "amount": amount,
                "currency": found["currency"],
                "processor": "sandbox",
                "customer": {"email": found["customer"]["email"]},
                "integration": 100032,
                "domain": "test",
                "id": str(refund_id),
            },
        )
        return ok("Refund has been queued for processing", data)

    async def _recipient(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict):
            return refused("Invalid request body")
        kind, name = body.get("type"), body.get("name")
        account, bank = body.get("account_number"), body.get("bank_code")
        if kind not in ("nuban", "ghipss", "mobile_money", "basa", "authorization"):
            return refused("Invalid type")
        if not name or not account or not bank:
            return refused("name, account_number and bank_code are required")
        for existing in self.recipients.values():
            details = existing["details"]
            if (existing["type"], details["account_number"], details["bank_code"]) == (kind, account, bank):
                return ok("Transfer recipient created successfully", existing)
        now = timestamp()
        code = f"RCP_{secrets.token_hex(8)}"
        currency = body.get("currency") or {"ghipss": "GHS", "basa": "ZAR"}.get(str(kind), "NGN")
        record = {
            "active": True,
            "createdAt": now,
            "currency": currency,
            "description": body.get("description"),
            "domain": "test",
            "email": None,
            "id": next(self._ids),
            "integration": 100032,
            "metadata": None,
            "name": name,
            "recipient_code": code,
            "type": kind,
            "updatedAt": now,
            "is_deleted": False,
            "details": {
                "authorization_code": None,
                "account_number": account,
                "account_name": name,
                "bank_code": bank,
                "bank_name": "Sandbox Bank",
            },
        }
        self.recipients[code] = record
        return ok("Transfer recipient created successfully", record, status=201)

    async def _transfer(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict):
            return refused("Invalid request body")
        amount, currency = whole(body.get("amount")), body.get("currency", "NGN")
        recipient = self.recipients.get(str(body.get("recipient")))
        reference = body.get("reference")
        if body.get("source") != "balance":
            return refused("Invalid source")
        if amount is None or amount <= 0:
            return refused("Invalid amount")
        if recipient is None:
            return refused("Recipient specified is invalid", code="invalid_recipient")
        if currency not in CURRENCIES:
            return refused("Currency not supported", code="unsupported_currency")
        if not isinstance(reference, str) or not _TRANSFER_REFERENCE.match(reference):
            return refused("Invalid reference: lowercase letters, digits, - and _, at least 16 characters")
        if reference in self.transfers:
            return refused("Duplicate Transfer Reference", code="duplicate_reference")
        if amount > self.balances[currency]:
            return refused(
                "Your balance is not enough to fulfil this request",
                kind="api_error",
                code="insufficient_balance",
            )
        self.balances[currency] -= amount
        now = timestamp()
        record = {
            "transfer_code": f"TRF_{secrets.token_hex(8)}",
            "status": "pending",
            "reference": reference,
            "amount": amount,
            "currency": currency,
            "recipient": recipient["id"],
            "integration": 100032,
            "id": next(self._ids),
            "createdAt": now,
            "updatedAt": now,
            "failures": None,
            "transferred_at": None,
            "source": "balance",
            "reason": body.get("reason"),
            "domain": "test",
        }
        self.transfers[reference] = record
        answer = dict(record)
        outcome = self.scripted("transfer") or {13: "failed", 14: "reversed"}.get(amount % 100, "success")
        record.update(status=outcome, updatedAt=timestamp())
        if outcome == "success":
            record["transferred_at"] = record["updatedAt"]
        else:
            self.balances[currency] += amount
        self._send(f"transfer.{outcome}", {**record, "recipient": recipient})
        return ok("Transfer has been queued", answer)

    async def _verify_transfer(self, request: Request, body: Any) -> Response:
        found = self.transfers.get(request.path_params["reference"])
        if found is None:
            return refused("Transfer not found", code="transfer_not_found", status=404)
        return ok("Transfer retrieved", found)


def public(transaction: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in transaction.items() if not k.startswith("_")}


def whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


async def read(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode(errors="replace")))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


__all__ = ["CURRENCIES", "PaystackSandboxBase", "ok", "public", "read", "refused", "timestamp", "whole"]
