"""What the M-Pesa tests share: a served sandbox, a small webhook receiver (the ingress's part:
parse the delivery with the connector, answer with its reply), integrations and contexts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors import (
    ActionContext,
    ConnectorError,
    HttpFactory,
    InboundRequest,
    Integration,
    Retry,
    WebhookEvent,
)
from smeflow.connectors.mpesa import (
    SANDBOX_B2C_SHORTCODE,
    SANDBOX_CONSUMER_KEY,
    SANDBOX_CONSUMER_SECRET,
    SANDBOX_INITIATOR,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    Mpesa,
    MpesaConfig,
    MpesaCredentials,
)
from smeflow.connectors.sandbox import Sandbox, SandboxServer

HOOK_TOKEN = "hk_4f9c2b7e1d"


@dataclass
class Delivery:
    request: InboundRequest
    events: list[WebhookEvent] = field(default_factory=list)
    reply: bytes = b""
    status: int = 200


class Receiver(Sandbox):
    """A webhook endpoint at ``/hooks/<token>`` that parses each delivery with the connector and
    answers with its ``webhook_reply`` (or ``validation_reply`` for C2B validations, if set)."""

    key = "receiver"
    title = "test webhook receiver"

    def __init__(self, connector: Mpesa) -> None:
        super().__init__()
        self.connector = connector
        self.deliveries: list[Delivery] = []
        self.validation_reply: bytes | None = None
        self.integration = integration_for("http://unused.invalid", None)

    def routes(self) -> list[BaseRoute]:
        return [Route("/hooks/{token}", self._hook, methods=["POST"])]

    async def _hook(self, request: Request) -> Response:
        inbound = InboundRequest(
            method=request.method,
            body=await request.body(),
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            client_ip=request.client.host if request.client else None,
        )
        delivery = Delivery(inbound)
        if request.path_params["token"] != HOOK_TOKEN:
            delivery.status = 404
        else:
            try:
                delivery.events = self.connector.parse_webhook(self.integration, inbound)
            except ConnectorError:
                delivery.status = 400
            else:
                reply = self.connector.webhook_reply(self.integration, inbound, delivery.events)
                delivery.reply = reply.body
                if self.validation_reply is not None and any(
                    e.kind == "c2b.validation" for e in delivery.events
                ):
                    delivery.reply = self.validation_reply
        self.deliveries.append(delivery)
        return Response(delivery.reply, status_code=delivery.status, media_type="application/json")

    def events(self) -> list[WebhookEvent]:
        return [event for delivery in self.deliveries for event in delivery.events]


def integration_for(
    base_url: str,
    webhook_url: str | None,
    *,
    consumer_key: str = SANDBOX_CONSUMER_KEY,
    consumer_secret: str = SANDBOX_CONSUMER_SECRET,
    passkey: str | None = SANDBOX_PASSKEY,
    security_credential: str | None = None,
    **config: Any,
) -> Integration:
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="mpesa",
        config=MpesaConfig(
            base_url=base_url,
            **{"shortcode": SANDBOX_SHORTCODE, "b2c_shortcode": SANDBOX_B2C_SHORTCODE, **config},
        ),
        credentials=MpesaCredentials(
            consumer_key=SecretStr(consumer_key),
            consumer_secret=SecretStr(consumer_secret),
            passkey=SecretStr(passkey) if passkey else None,
            initiator_name=SANDBOX_INITIATOR if security_credential else None,
            security_credential=SecretStr(security_credential) if security_credential else None,
        ),
        webhook_url=webhook_url,
    )


def factory() -> HttpFactory:
    return HttpFactory(retry=Retry(attempts=2, base_seconds=0.01))


def context(
    integration: Integration,
    http_factory: HttpFactory,
    *,
    key: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> ActionContext:
    connector = Mpesa()
    http = http_factory.for_integration(connector, integration)
    if now is None:
        return ActionContext(integration, http, idempotency_key=key)
    return ActionContext(integration, http, idempotency_key=key, now=now)


async def wait_until(condition: Callable[[], Any], what: str, *, deadline: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a generous deadline, so a slow machine does not fail)."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def serve(sandbox: Sandbox) -> Iterator[tuple[Sandbox, str]]:
    server = SandboxServer(sandbox)
    url = server.start()
    try:
        yield sandbox, url
    finally:
        server.stop()
