"""Payments end to end over real HTTP: the API served on loopback, the M-Pesa sandbox calling back
to the integration's webhook URL, the embedded worker confirming each callback with an STK Query
and reconciling payments whose callback never came."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from smeflow.api import create_app
from smeflow.connectors.mpesa import MpesaSandbox
from smeflow.connectors.mpesa._sandbox_rules import (
    SANDBOX_CONSUMER_KEY,
    SANDBOX_CONSUMER_SECRET,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
)
from smeflow.connectors.sandbox import SandboxServer, free_port
from smeflow.connectors.whatsapp import WhatsAppSandbox
from smeflow.db import Database
from smeflow.settings import Settings

from .conftest import API, World

DEADLINE = 60.0
SECRETS = (SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET, SANDBOX_PASSKEY)


@dataclass
class Live:
    url: str
    sandbox: MpesaSandbox
    sandbox_url: str


@pytest.fixture
def sandbox() -> Iterator[tuple[MpesaSandbox, str]]:
    mpesa = MpesaSandbox()
    mpesa.callback_delay = 0.0
    with SandboxServer(mpesa) as url:
        yield mpesa, url


@pytest.fixture
async def live(settings: Settings, db: Database, sandbox: tuple[MpesaSandbox, str]) -> AsyncIterator[Live]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    served = settings.model_copy(
        update={
            "embedded_worker": True,
            "public_url": url,
            "http_allow_private_networks": True,
            "payments_quiet_seconds": 1.0,
            "payments_reconcile_every_seconds": 0.2,
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(served, database=db), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the API did not start"
        await asyncio.sleep(0.01)
    try:
        yield Live(url, *sandbox)
    finally:
        server.should_exit = True
        await task


async def eventually(check: Callable[[], Any], what: str) -> Any:
    give_up = asyncio.get_running_loop().time() + DEADLINE
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert asyncio.get_running_loop().time() < give_up, f"waited {DEADLINE:g} s for {what}"
        await asyncio.sleep(0.05)


async def connect_mpesa(client: httpx.AsyncClient, live: Live, headers: dict[str, str]) -> dict[str, Any]:
    created = await client.post(
        f"{live.url}{API}/integrations",
        headers=headers,
        json={
            "connector": "mpesa",
            "name": "Paybill",
            "config": {"base_url": live.sandbox_url, "shortcode": SANDBOX_SHORTCODE},
            "credentials": {
                "consumer_key": SANDBOX_CONSUMER_KEY,
                "consumer_secret": SANDBOX_CONSUMER_SECRET,
                "passkey": SANDBOX_PASSKEY,
            },
        },
    )
    assert created.status_code == 201, created.text
    assert "/webhooks/daraja/" in created.json()["webhook_url"]
    return dict(created.json())


async def pay(
    client: httpx.AsyncClient, live: Live, headers: dict[str, str], shillings: int, **extra: Any
) -> Any:
    answer = await client.post(
        f"{live.url}{API}/payments",
        headers=headers,
        json={
            "integration": "Paybill",
            "amount_minor": shillings * 100,
            "currency": "KES",
            "phone": "0712345678",
        }
        | extra,
    )
    assert answer.status_code in (200, 201), answer.text
    return answer


def settled(client: httpx.AsyncClient, live: Live, headers: dict[str, str], payment_id: str) -> Any:
    async def check() -> Any:
        shown = (await client.get(f"{live.url}{API}/payments/{payment_id}", headers=headers)).json()
        return shown if shown["status"] in ("succeeded", "failed") else None

    return check


def pushes(live: Live) -> int:
    return sum(1 for method, path, _ in live.sandbox.calls if path == "/mpesa/stkpush/v1/processrequest")


async def test_a_payment_is_confirmed_by_query_once_its_callback_arrives(
    live: Live, world: World, owner_conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    headers = world.a.key()
    async with httpx.AsyncClient(timeout=30) as client:
        await connect_mpesa(client, live, headers)
        answer = await pay(client, live, headers, 1500, reference="deposit-0001")
        assert answer.status_code == 201
        created = answer.json()
        assert (created["status"], created["amount_minor"], created["currency"]) == ("pending", 150000, "KES")
        assert created["phone"] == "+254712345678"
        assert created["provider_reference"].startswith("ws_CO_")
        shown = await eventually(settled(client, live, headers, created["id"]), "the payment to settle")
        again = await pay(client, live, headers, 1500, reference="deposit-0001")  # the same reference
        texts = [answer.text, again.text, str(shown)]
    assert again.status_code == 200
    assert again.json()["id"] == created["id"]
    assert pushes(live) == 1  # asked once, whatever the caller repeats
    assert shown["status"] == "succeeded"
    assert shown["provider_ref"]  # the M-Pesa receipt from the callback
    assert [(t["from_status"], t["to_status"], t["cause"]) for t in shown["transitions"]] == [
        (None, "created", "request"),
        ("created", "pending", "request"),
        ("pending", "succeeded", "query"),  # confirmed by an STK Query, not taken from the callback
    ]
    assert owner_conn.execute("SELECT kind, status FROM inbox_events").fetchall() == [
        ("payment.succeeded", "processed")
    ]
    # the outcome is an internal event a workflow can wait for
    event = owner_conn.execute("SELECT name, payload->>'payment_id' FROM events").fetchall()
    assert event == [("payment.succeeded", created["id"])]
    audited = owner_conn.execute("SELECT action FROM audit_events WHERE action LIKE 'payment.%'").fetchall()
    assert audited == [("payment.succeeded",)]
    for secret in SECRETS:
        assert secret not in caplog.text
        assert all(secret not in text for text in texts)


async def test_a_dropped_callback_is_reconciled_by_query(live: Live, world: World) -> None:
    live.sandbox.script("stk_callback", "drop")
    headers = world.a.key()
    async with httpx.AsyncClient(timeout=30) as client:
        await connect_mpesa(client, live, headers)
        created = (await pay(client, live, headers, 700)).json()
        shown = await eventually(settled(client, live, headers, created["id"]), "reconciliation")
    assert shown["status"] == "succeeded"
    assert [t["cause"] for t in shown["transitions"]][-1] == "query"
    assert shown["transitions"][-1]["event_id"] is None  # no callback ever came


async def test_a_callback_sent_twice_moves_the_payment_once(
    live: Live, world: World, owner_conn: psycopg.Connection
) -> None:
    live.sandbox.script("stk_callback", "twice")
    headers = world.a.key()
    async with httpx.AsyncClient(timeout=30) as client:
        await connect_mpesa(client, live, headers)
        created = (await pay(client, live, headers, 250)).json()
        shown = await eventually(settled(client, live, headers, created["id"]), "the payment to settle")

        def two_deliveries() -> bool:
            row = owner_conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
            return row is not None and row[0] == 2

        await eventually(two_deliveries, "both deliveries")
    assert shown["status"] == "succeeded"
    assert [t["to_status"] for t in shown["transitions"]].count("succeeded") == 1
    assert owner_conn.execute("SELECT count(*) FROM inbox_events").fetchone() == (1,)
    assert owner_conn.execute("SELECT count(*) FROM events WHERE name = 'payment.succeeded'").fetchone() == (
        1,
    )


@pytest.mark.parametrize(("shillings", "code"), [(1032, "1032"), (1037, "1037"), (2001, "2001"), (1001, "1")])
async def test_each_failure_code_fails_the_payment_with_its_reason(
    live: Live, world: World, shillings: int, code: str
) -> None:
    headers = world.a.key()
    async with httpx.AsyncClient(timeout=30) as client:
        await connect_mpesa(client, live, headers)
        created = (await pay(client, live, headers, shillings)).json()
        shown = await eventually(settled(client, live, headers, created["id"]), "the payment to fail")
    assert shown["status"] == "failed"
    assert shown["failure_code"] == code
    assert shown["failure_reason"]
    assert shown["settled_at"] is not None


async def test_bad_payment_requests_are_refused_naming_the_field_and_ask_nobody(
    live: Live, world: World, owner_conn: psycopg.Connection
) -> None:
    headers = world.a.key()
    async with httpx.AsyncClient(timeout=30) as client:
        await connect_mpesa(client, live, headers)
        cases = [
            ({"phone": "12"}, "body.phone"),
            ({"currency": "KSH"}, "body.currency"),
            ({"amount_minor": 0}, "body.amount_minor"),
            ({"integration": "Nope"}, None),
        ]
        for change, field in cases:
            body = {"integration": "Paybill", "amount_minor": 1000, "currency": "KES", "phone": "0712345678"}
            response = await client.post(f"{live.url}{API}/payments", headers=headers, json=body | change)
            assert response.status_code in (404, 422), response.text
            if field:
                assert field in [e["field"] for e in response.json()["errors"]], response.text
    assert owner_conn.execute("SELECT count(*) FROM payments").fetchone() == (0,)
    assert pushes(live) == 0


async def test_another_tenant_cannot_use_or_see_the_integration_or_its_payments(
    live: Live, world: World
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        await connect_mpesa(client, live, world.a.key())
        created = (await pay(client, live, world.a.key(), 100)).json()
        other = await client.post(
            f"{live.url}{API}/payments",
            headers=world.b.key(),
            json={"integration": "Paybill", "amount_minor": 1000, "currency": "KES", "phone": "0712345678"},
        )
        assert other.status_code == 404
        seen = await client.get(f"{live.url}{API}/payments/{created['id']}", headers=world.b.key())
        assert seen.status_code == 404
        listed = await client.get(f"{live.url}{API}/payments", headers=world.b.key())
        assert listed.json()["items"] == []
        assert uuid.UUID(created["id"])


PAID = "event.payment_id == nodes.pay.payment_id"
AMOUNT_PAID = "nodes.paid.event.payload.amount_minor"
RECORDS = ("run_events", "step_journal", "runs", "audit_events", "inbox_events", "webhook_deliveries")


def deposit_flow() -> dict[str, Any]:
    """Ask for a deposit, wait for it, thank the customer on WhatsApp."""
    return {
        "schema_version": 1,
        "name": "Deposit",
        "triggers": [{"kind": "manual"}],
        "input_schema": {
            "type": "object",
            "properties": {"phone": {"type": "string"}, "amount": {"type": "integer"}},
            "required": ["phone", "amount"],
        },
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "pay",
                "kind": "action",
                "config": {
                    "action": "payments.request",
                    "unattended": True,  # the customer approves with their own PIN
                    "input": {
                        "integration": "Paybill",
                        "amount_minor": "=input.amount",
                        "currency": "KES",
                        "phone": "=input.phone",
                        "description": "Deposit",
                    },
                },
            },
            {
                "id": "paid",
                "kind": "wait",
                "config": {
                    "event": {
                        "name": "payment.succeeded",
                        "match": "event.payment_id == nodes.pay.payment_id",
                    }
                },
            },
            {
                "id": "thanks",
                "kind": "action",
                "config": {
                    "action": "whatsapp.send_template",
                    "input": {"integration": "WhatsApp", "to": "=input.phone", "name": "deposit_received"},
                },
            },
            {
                "id": "done",
                "kind": "end",
                "config": {"output": {"paid": "nodes.paid.event.payload.amount_minor"}},
            },
        ],
        "edges": [
            {"from": "start", "to": "pay"},
            {"from": "pay", "to": "paid"},
            {"from": "paid", "to": "thanks"},
            {"from": "thanks", "to": "done"},
        ],
    }


async def test_a_workflow_takes_a_deposit_and_no_credential_lands_in_its_records(
    live: Live, world: World, owner_conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    # the callback comes at once, often before the run reaches its wait step: the wait takes
    # events emitted since the payment step began
    live.sandbox.callback_delay = 0.0
    whatsapp = WhatsAppSandbox()
    headers = world.a.key()
    with SandboxServer(whatsapp) as whatsapp_url:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            await connect_mpesa(client, live, headers)
            connected = await client.post(
                f"{API}/integrations",
                headers=headers,
                json={
                    "connector": "whatsapp",
                    "name": "WhatsApp",
                    "config": {"base_url": whatsapp_url, "phone_number_id": "106540352242922"},
                    "credentials": {
                        "access_token": "sandbox-access-token",
                        "app_secret": "sandbox-app-secret",
                        "verify_token": "sandbox-verify-token",
                    },
                },
            )
            assert connected.status_code == 201, connected.text
            made = await client.post(
                f"{API}/workflows", headers=headers, json={"name": "Deposit", "definition": deposit_flow()}
            )
            assert made.status_code == 201, made.text
            workflow_id = made.json()["id"]
            published = await client.post(f"{API}/workflows/{workflow_id}/publish", headers=headers)
            assert published.status_code == 201, published.text
            started = await client.post(
                f"{API}/workflows/{workflow_id}/runs",
                headers=headers,
                json={"input": {"phone": "+254712345678", "amount": 50000}},
            )
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]

            async def finished() -> Any:
                run = (await client.get(f"{API}/runs/{run_id}", headers=headers)).json()
                return run if run["status"] in ("succeeded", "failed") else None

            run = await eventually(finished, "the deposit run to finish")
            timeline = (await client.get(f"{API}/runs/{run_id}/events", headers=headers)).text
    assert run["status"] == "succeeded", run
    assert run["output"] == {"paid": 50000}
    sent = [body for method, path, body in whatsapp.calls if path.endswith("/messages")]
    assert len(sent) == 1
    assert sent[0]["template"]["name"] == "deposit_received"
    stored = [
        str(row)
        for table in (
            "run_events",
            "step_journal",
            "runs",
            "audit_events",
            "inbox_events",
            "webhook_deliveries",
        )
        for row in owner_conn.execute(f"SELECT * FROM {table}").fetchall()
    ]
    checkpoints = [
        bytes(blob)
        for (blob,) in owner_conn.execute(
            "SELECT coalesce(blob, ''::bytea) FROM engine.checkpoint_blobs"
            " UNION ALL SELECT convert_to(checkpoint::text, 'UTF8') FROM engine.checkpoints"
        ).fetchall()
    ]
    for secret in (*SECRETS, "sandbox-access-token", "sandbox-app-secret", "sandbox-verify-token"):
        assert secret not in caplog.text
        assert secret not in timeline
        assert all(secret not in row for row in stored), secret
        assert all(secret.encode() not in blob for blob in checkpoints), secret


async def test_a_money_step_without_an_approval_before_it_is_refused_at_publish(
    live: Live, world: World
) -> None:
    definition = deposit_flow()
    del definition["nodes"][1]["config"]["unattended"]
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        made = await client.post(
            f"{API}/workflows", headers=world.a.key(), json={"name": "Deposit", "definition": definition}
        )
        workflow_id = made.json()["id"]
        published = await client.post(f"{API}/workflows/{workflow_id}/publish", headers=world.a.key())
    assert published.status_code == 422, published.text
    problem = published.json()
    assert [e["code"] for e in problem["errors"]] == ["money_needs_approval"]
    assert problem["errors"][0]["field"] == "definition.nodes[1].config.action"
