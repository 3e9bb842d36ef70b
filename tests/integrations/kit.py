"""Test connectors and a loopback provider for the integration tests (only the transport is
real-but-local: a small HTTP server on 127.0.0.1).

* ``ping``: token-authenticated webhooks, an API key, config with a required account number.
* ``signed``: Paystack-style webhooks (``x-paystack-signature`` = hex HMAC-SHA512 of the raw body
  with the secret key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    Connector,
    ConnectorConfig,
    ConnectorRegistry,
    InboundRequest,
    Integration,
    Unavailable,
    WebhookEvent,
    action,
    json_body,
)

GOOD_KEY = "pk_live_GOOD-ping-key-7f3a9c"
BAD_KEY = "pk_live_WRONG-ping-key-0000"
GOOD_SECRET = "sk_live_GOOD-signed-secret-51e2"
OTHER_SECRET = "sk_live_OTHER-signed-secret-8d44"


class PingCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr = Field(min_length=10)
    username: str | None = None


class PingConfig(ConnectorConfig):
    account: str = Field(pattern=r"^\d{5,7}$", description="the paybill or till number")
    region: Literal["ke", "ng"] = "ke"


class SendIn(BaseModel):
    to: str = Field(min_length=3)
    text: str


class SendOut(BaseModel):
    message_id: str


async def _authorised_get(ctx: ActionContext, path: str, token: str) -> dict[str, Any]:
    response = await ctx.http.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        raise AuthFailed("the provider refused the API key", provider_code="401")
    if response.status_code != 200:
        raise Unavailable(f"the provider answered {response.status_code}")
    body: dict[str, Any] = json_body(response)
    return body


class Ping(Connector):
    key = "ping"
    version = "1.2.0"
    title = "Ping"
    description = "A token-authenticated provider for the tests."
    default_base_url = "https://ping.invalid"
    credentials_model = PingCredentials
    config_model = PingConfig
    countries = ("KE", "NG")
    webhook_auth = "token"
    webhook_events = ("message.received",)

    async def check(self, ctx: ActionContext) -> None:
        await _authorised_get(ctx, "/me", ctx.credentials.api_key.get_secret_value())

    @action("send", effect="write", title="Send a ping")
    async def send(self, ctx: ActionContext, data: SendIn) -> SendOut:
        """Send a short text message to a phone number through Ping."""
        return SendOut(message_id="m-1")

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        body = request.json()
        return [WebhookEvent(event_id=str(body["id"]), kind="message.received", data={"text": body["text"]})]


class SignedCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_key: SecretStr = Field(min_length=10)
    public_key: str | None = None


class Signed(Connector):
    key = "signed"
    version = "0.1.0"
    title = "Signed"
    description = "A provider whose webhooks are signed with HMAC-SHA512, like Paystack's."
    default_base_url = "https://signed.invalid"
    credentials_model = SignedCredentials
    webhook_auth = "signature"
    webhook_events = ("payment.succeeded",)
    webhook_name = "sgn"  # its webhook URLs say /webhooks/sgn/…, not its key

    async def check(self, ctx: ActionContext) -> None:
        await _authorised_get(ctx, "/balance", ctx.credentials.secret_key.get_secret_value())

    def verify_webhook(self, integration: Integration, request: InboundRequest) -> None:
        secret = integration.credentials.secret_key.get_secret_value().encode()  # type: ignore[attr-defined]
        expected = hmac.new(secret, request.body, hashlib.sha512).hexdigest()
        if not hmac.compare_digest(expected, request.header("x-paystack-signature") or ""):
            raise AuthFailed("the webhook's signature does not verify")

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        body = request.json()
        return [WebhookEvent(event_id=str(body["id"]), kind="payment.succeeded", reference=body["reference"])]


def registry() -> ConnectorRegistry:
    return ConnectorRegistry([Ping(), Signed()])


def ping_body(name: str = "Till 1", *, key: str = GOOD_KEY, base_url: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"account": "123456"}
    if base_url is not None:
        config["base_url"] = base_url
    return {"connector": "ping", "name": name, "config": config, "credentials": {"api_key": key}}


class Provider:
    """A loopback provider: ``GET /me`` and ``GET /balance`` answer 200 to the good keys, else 401."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization", "")
                outer.calls.append((self.path, auth))
                good = auth in (f"Bearer {GOOD_KEY}", f"Bearer {GOOD_SECRET}")
                body = json.dumps({"ok": True} if good else {"error": "bad key"}).encode()
                self.send_response(200 if good else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def provider() -> Iterator[Provider]:
    running = Provider()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
        thread.join()
