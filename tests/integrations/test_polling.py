"""Polling triggers run by the workers: Africa's Talking's inbox polled for messages whose callback
was lost, their events in the inbox once, the cursor kept per integration and trigger."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest

from smeflow.audit import Actor
from smeflow.connectors import HttpFactory, default_registry
from smeflow.connectors.africastalking import AfricasTalkingSandbox
from smeflow.connectors.sandbox import serving
from smeflow.db import Database, DbScope
from smeflow.integrations import PollingWorker, Vault, create_integration
from smeflow.integrations.schemas import IntegrationCreate
from smeflow.settings import Settings

API_KEY = "atsk_live_POLLINGKEY_0123456789"
TRIGGER = "africastalking.inbound_sms"


@pytest.fixture
def sandbox() -> AfricasTalkingSandbox:
    return AfricasTalkingSandbox(api_key=API_KEY)


@pytest.fixture
def at_url(sandbox: AfricasTalkingSandbox) -> Iterator[str]:
    with serving(sandbox) as url:
        yield url


@pytest.fixture
async def worker(db: Database, settings: Settings) -> AsyncIterator[PollingWorker]:
    http = HttpFactory()
    yield PollingWorker(db, Vault.from_settings(settings), default_registry(), http)
    await http.aclose()


async def connect(db: Database, settings: Settings, tenant_id: uuid.UUID, at_url: str) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        row = await create_integration(
            session,
            Actor.system(),
            tenant_id,
            default_registry(),
            Vault.from_settings(settings),
            IntegrationCreate(
                connector="africastalking",
                name="SMS",
                config={"username": "sandbox", "base_url": at_url},
                credentials={"api_key": API_KEY},
            ),
        )
        return row.id


async def inbound(at_url: str, sender: str, text: str) -> str:
    async with httpx.AsyncClient(base_url=at_url) as client:
        sent = await client.post("/sandbox/sms/inbound", json={"from": sender, "text": text})
        return str(sent.json()["id"])


async def test_a_lost_callback_is_found_by_polling_once_and_the_cursor_moves_on(
    db: Database,
    settings: Settings,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    at_url: str,
    sandbox: AfricasTalkingSandbox,
    worker: PollingWorker,
    owner_conn: psycopg.Connection,
) -> None:
    integration = await connect(db, settings, tenant_a, at_url)
    sandbox.script("callback", "drop")
    first = await inbound(at_url, "+254712345678", "Nataka kuweka miadi")
    assert await worker.run_once() == 1
    rows = owner_conn.execute(
        "SELECT tenant_id, integration_id, event_id, kind, data->>'text' FROM inbox_events"
    )
    assert rows.fetchall() == [(tenant_a, integration, first, "message.received", "Nataka kuweka miadi")]
    polled = owner_conn.execute("SELECT headers FROM webhook_deliveries").fetchone()
    assert polled == ({"x-smeflow-polled": TRIGGER},)
    assert await worker.run_once() == 0  # not due again before its interval

    second = await inbound(at_url, "+254712345679", "Asante")
    owner_conn.execute("UPDATE integration_cursors SET polled_at = polled_at - interval '1 hour'")
    assert await worker.run_once() == 1
    kinds = owner_conn.execute("SELECT event_id FROM inbox_events ORDER BY created_at").fetchall()
    assert kinds == [(first,), (second,)]
    cursor = owner_conn.execute("SELECT trigger, cursor, last_error FROM integration_cursors").fetchall()
    assert cursor == [(TRIGGER, second, None)]
    # the other tenant has no integration: nothing was polled or stored for it
    assert owner_conn.execute(
        "SELECT count(*) FROM inbox_events WHERE tenant_id = %s", (tenant_b,)
    ).fetchone() == (0,)


async def test_a_failed_poll_keeps_its_cursor_and_says_why(
    db: Database,
    settings: Settings,
    tenant_a: uuid.UUID,
    at_url: str,
    sandbox: AfricasTalkingSandbox,
    worker: PollingWorker,
    owner_conn: psycopg.Connection,
) -> None:
    await connect(db, settings, tenant_a, at_url)
    sandbox.script("http", 503, 503, 503)
    assert await worker.run_once() == 0
    row = owner_conn.execute(
        "SELECT cursor, last_error, polled_at IS NOT NULL FROM integration_cursors"
    ).fetchone()
    assert row is not None
    assert row[0] is None
    assert row[1] is not None
    assert "connector_unavailable" in row[1]
    assert row[2]
    assert owner_conn.execute("SELECT count(*) FROM inbox_events").fetchone() == (0,)
    assert API_KEY not in row[1]
