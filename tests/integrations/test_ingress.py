"""The ingress below HTTP: which headers are kept, and the delivery and its events are one
transaction (an event the database refuses leaves no delivery behind either)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from smeflow.connectors import ConnectorRegistry, InboundRequest, Integration, WebhookEvent
from smeflow.db import Database
from smeflow.integrations import Arrival, Ingress, stored_headers
from smeflow.settings import Settings

from .connectors import TokenOnly
from .rows import add_integration, count
from .test_inbox import body_of


def test_credentials_and_signatures_are_not_kept_with_a_delivery() -> None:
    headers = {
        "content-type": "application/json",
        "user-agent": "Paystack/1.0",
        "x-request-id": "r-1",
        "idempotency-key": "k-1",
        "x-paystack-signature": "ab12",
        "x-hub-signature-256": "sha256=ab12",
        "verif-hash": "merchant-secret",
        "flutterwave-signature": "c2ln",
        "authorization": "Basic YWRtaW46YWRtaW4=",
        "cookie": "session=1",
        "x-api-key": "smf_x",
        "x-webhook-token": "t",
        "x-shared-secret": "s",
    }
    assert stored_headers(headers) == {
        "content-type": "application/json",
        "user-agent": "Paystack/1.0",
        "x-request-id": "r-1",
        "idempotency-key": "k-1",
    }


class Broken(TokenOnly):
    """Parses a first good event and a second the database refuses (a NUL in its id)."""

    key = "broken_hook"

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        return [
            WebhookEvent(event_id="fine", kind="message.received"),
            WebhookEvent(event_id="bad\x00id", kind="message.received"),
        ]


async def test_a_delivery_and_its_events_are_stored_together_or_not_at_all(
    db: Database, settings: Settings, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    hooked = await add_integration(db, settings, tenant_a, "broken_hook")
    ingress = Ingress(db, settings, ConnectorRegistry([Broken()]))
    arrival = Arrival(
        method="POST",
        provider="broken_hook",
        integration_id=str(hooked.id),
        token=hooked.token,
        headers={},
        query={},
        client_ip="127.0.0.1",
        body=body_of(b"id=1"),
    )
    with pytest.raises(psycopg.Error):
        await ingress.receive(arrival)
    assert count(owner_conn, "webhook_deliveries") == 0
    assert count(owner_conn, "inbox_events") == 0
