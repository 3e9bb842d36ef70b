"""Shared test helpers for the WhatsApp tests: integrations, a webhook receiver that runs the
connector's own handshake/verify/parse on real HTTP, and polling."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors import AuthFailed, ConnectorError, InboundRequest, Integration, WebhookEvent
from smeflow.connectors.sandbox import Sandbox
from smeflow.connectors.whatsapp import WhatsApp, WhatsAppConfig, WhatsAppCredentials

# The recorded Meta test vector (protocols_africa.md §5.3); the secret has since been reset.
VECTOR_SECRET = "1222e786b144d0e85b9f365372d93676"
VECTOR_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"264937493375603","changes":[{"value":'
    b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550953877","phone_number_id":'
    b'"277321005464405"},"contacts":[{"profile":{"name":"PyWa Tests"},"wa_id":"972544401243"}],"messages":'
    b'[{"from":"972544401243","id":"wamid.HBgMOTcyNTQ0NDAxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4'
    b'ODAxM0YA","timestamp":"1730231903","text":{"body":"Hey there! I am using PyWa."},"type":"text"}]},'
    b'"field":"messages"}]}]}'
)
VECTOR_SIGNATURE = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"

ACCESS_TOKEN = "EAAGsandboxTOKEN0123456789abcdef"
VERIFY_TOKEN = "verify-me-4f1c2d9e8b7a"
PHONE_NUMBER_ID = "106540352242922"


def wa_integration(
    base_url: str,
    *,
    access_token: str = ACCESS_TOKEN,
    app_secret: str = VECTOR_SECRET,
    verify_token: str = VERIFY_TOKEN,
    phone_number_id: str | None = PHONE_NUMBER_ID,
) -> Integration:
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="whatsapp",
        config=WhatsAppConfig(base_url=base_url, phone_number_id=phone_number_id, api_version="v21.0"),
        credentials=WhatsAppCredentials(
            access_token=SecretStr(access_token),
            app_secret=SecretStr(app_secret),
            verify_token=SecretStr(verify_token),
        ),
    )


class WebhookReceiver(Sandbox):
    """A tenant's webhook endpoint: GET → the connector's handshake; POST → verify + parse."""

    key = "receiver"
    title = "webhook receiver"

    def __init__(self, integration: Integration) -> None:
        super().__init__()
        self.integration = integration
        self.connector = WhatsApp()
        self.events: list[WebhookEvent] = []
        self.refused: list[str] = []

    def routes(self) -> list[BaseRoute]:
        return [Route("/hook", self.hook, methods=["GET", "POST"])]

    async def hook(self, request: Request) -> Response:
        inbound = InboundRequest(
            method=request.method,
            body=await request.body(),
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
        )
        if request.method == "GET":
            reply = self.connector.webhook_handshake(self.integration, inbound)
            assert reply is not None
            return Response(reply.body, reply.status, media_type=reply.media_type)
        try:
            self.connector.verify_webhook(self.integration, inbound)
            self.events.extend(self.connector.parse_webhook(self.integration, inbound))
        except AuthFailed as exc:
            self.refused.append(str(exc))
            return Response(b"", 401)
        except ConnectorError as exc:
            self.refused.append(str(exc))
            return Response(b"", 400)
        return Response(b"", 200)

    def of_kind(self, kind: str) -> list[WebhookEvent]:
        return [event for event in self.events if event.kind == kind]


async def eventually(condition: Callable[[], Any], *, within: float = 15.0) -> Any:
    """Poll ``condition`` until it is truthy (a generous deadline, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true")
        await asyncio.sleep(0.01)
