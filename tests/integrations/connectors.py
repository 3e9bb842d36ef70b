"""Connectors and a provider of the integrations tests (importable by worker subprocesses too:
nothing here imports pytest).

* :class:`PaystackLike`: Paystack's webhook scheme exactly (``x-paystack-signature`` = hex
  HMAC-SHA512 of the raw body keyed with the secret key; ``{"event", "data"}`` bodies).
* :class:`TokenOnly`: authenticated by the URL token alone (like Daraja and Africa's Talking),
  form-encoded deliveries, a ``text/plain`` reply and a WhatsApp-style ``GET`` handshake.
* :class:`Orders`: one write action, ``orders_test.place``, that POSTs to the provider with the
  idempotency key in ``Idempotency-Key``; :class:`OrdersProvider` is that provider on loopback.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel, SecretStr

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    Connector,
    ConnectorConfig,
    InboundRequest,
    Integration,
    InvalidResponse,
    Rejected,
    Unavailable,
    WebhookEvent,
    WebhookReply,
    action,
    json_body,
)

PAYSTACK_EVENTS = {"charge.success": "payment.succeeded", "refund.processed": "refund.processed"}


def paystack_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def charge_success(n: int, *, reference: str | None = None, amount: int = 150000) -> bytes:
    """A Paystack ``charge.success`` delivery (the shape of the recorded test-mode payload)."""
    body = {
        "event": "charge.success",
        "data": {
            "id": 696134700 + n,
            "domain": "test",
            "status": "success",
            "reference": reference or f"ref-{n}",
            "amount": amount,
            "currency": "NGN",
            "customer": {"email": "test.user@email.com"},
        },
    }
    return json.dumps(body).encode()


class PaystackCredentials(BaseModel):
    secret_key: SecretStr


class PaystackLike(Connector):
    key = "paystack_test"
    version = "1.0.0"
    title = "Paystack (test)"
    description = "Paystack's webhook signature scheme, for the ingress tests."
    default_base_url = "https://api.paystack.invalid"
    credentials_model = PaystackCredentials
    webhook_auth = "signature"
    webhook_events = ("payment.succeeded", "refund.processed")

    async def check(self, ctx: ActionContext) -> None:
        return None

    def verify_webhook(self, integration: Integration, request: InboundRequest) -> None:
        secret = integration.credentials.secret_key.get_secret_value()
        given = request.header("x-paystack-signature") or ""
        if not hmac.compare_digest(given.encode(), paystack_signature(secret, request.body).encode()):
            raise AuthFailed("the x-paystack-signature header does not match the body")

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise InvalidResponse('a Paystack delivery is {"event": …, "data": {…}}')
        kind = PAYSTACK_EVENTS.get(str(body.get("event")))
        if kind is None:
            return []
        data = body["data"]
        return [
            WebhookEvent(
                event_id=f"{body['event']}:{data.get('id')}",
                kind=kind,
                reference=data.get("reference"),
                data={"amount_minor": data.get("amount"), "currency": data.get("currency")},
            )
        ]


class TokenConfig(ConnectorConfig):
    verify_token: str = "verify-me"


class TokenOnly(Connector):
    key = "tokenhook"
    version = "1.0.0"
    title = "Token-authenticated callbacks (test)"
    description = "Deliveries authenticated by the URL token alone, for the ingress tests."
    default_base_url = "https://tokenhook.invalid"
    config_model = TokenConfig
    webhook_auth = "token"
    webhook_events = ("message.received",)

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        form = request.form()
        if not form.get("id"):
            raise InvalidResponse("the delivery has no id")
        return [
            WebhookEvent(
                event_id=form["id"],
                kind="message.received",
                data={"channel": "sms", "from": form.get("from", ""), "text": form.get("text", "")},
            )
        ]

    def webhook_reply(
        self, integration: Integration, request: InboundRequest, events: list[WebhookEvent]
    ) -> WebhookReply:
        return WebhookReply(200, f"OK {len(events)}".encode(), "text/plain")

    def webhook_handshake(self, integration: Integration, request: InboundRequest) -> WebhookReply | None:
        query = request.query
        if (
            query.get("hub.mode") == "subscribe"
            and query.get("hub.verify_token") == integration.config.verify_token
        ):
            return WebhookReply(200, query.get("hub.challenge", "").encode(), "text/plain")
        return WebhookReply(403, b"Forbidden", "text/plain")


class OrdersCredentials(BaseModel):
    api_key: SecretStr


class PlaceIn(BaseModel):
    item: str


class PlaceOut(BaseModel):
    order_id: str


class Orders(Connector):
    key = "orders_test"
    version = "1.0.0"
    title = "Orders (test)"
    description = "Places orders at a loopback provider, for the outbox tests."
    default_base_url = "http://127.0.0.1:9"
    credentials_model = OrdersCredentials

    async def check(self, ctx: ActionContext) -> None:
        return None

    @action("place", effect="write")
    async def place(self, ctx: ActionContext, data: PlaceIn) -> PlaceOut:
        """Place an order for one item at the provider (the idempotency key goes with it)."""
        response = await ctx.http.request(
            "POST",
            "/orders",
            json={"item": data.item},
            headers={
                "Authorization": f"Bearer {ctx.credentials.api_key.get_secret_value()}",
                "Idempotency-Key": ctx.idempotency_key or "",
            },
        )
        if response.status_code >= 500:
            raise Unavailable(f"the provider answered {response.status_code}")
        if response.status_code >= 400:
            raise Rejected(f"the provider refused the order ({response.status_code})")
        return PlaceOut(order_id=str(json_body(response)["order_id"]))


class OrdersProvider:
    """A loopback provider of :class:`Orders`: logs every Idempotency-Key on arrival, answers the
    queued statuses first (then 201), places one order per key (a key seen again gets the same
    order), and can hold its answers until :meth:`release`."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.keys: list[str] = []
        self.answered: list[str] = []
        self.orders: dict[str, str] = {}
        self.statuses = list(statuses or [])
        self.lock = threading.Lock()
        self.open = threading.Event()
        self.open.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers.get("Idempotency-Key", "")
                with outer.lock:
                    outer.keys.append(key)
                    status = outer.statuses.pop(0) if outer.statuses else 201
                    order = ""
                    if status < 300:
                        order = outer.orders.setdefault(key, f"order-{len(outer.orders) + 1}")
                outer.open.wait(60)
                answer = json.dumps({"order_id": order} if status < 300 else {"error": "busy"}).encode()
                with contextlib.suppress(OSError):  # the caller may be dead by now
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    self.wfile.flush()
                    with outer.lock:
                        outer.answered.append(key)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> Counter[str]:
        with self.lock:
            return Counter(self.keys)

    def hold(self) -> None:
        self.open.clear()

    def release(self) -> None:
        self.open.set()

    def __enter__(self) -> OrdersProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class Gate:
    """A loopback server that logs each POSTed ``event_id`` and holds its answer until released:
    an inbox handler that calls it is blocked mid-processing."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self.open = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.seen.append(str(body["event_id"]))
                outer.open.wait(120)
                with contextlib.suppress(OSError):
                    self.send_response(204)
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gate"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def calls(self) -> list[str]:
        with self.lock:
            return list(self.seen)

    def __enter__(self) -> Gate:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.open.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
