"""Paystack: the conformance suite and the flows, over real HTTP against PaystackSandbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    ConnectorConfig,
    HttpFactory,
    InboundRequest,
    Integration,
    Rejected,
    Retry,
    Unavailable,
)
from smeflow.connectors.paystack import Paystack, PaystackCredentials, PaystackSandbox, reference_for, sign
from smeflow.connectors.sandbox import serving
from smeflow.connectors.testing import ConnectorConformance

from .receiver import Receiver

SECRET = "sk_test_4f6d0c2b9e8a7d6c5b4a3f2e1d0c9b8a"


@dataclass
class World:
    sandbox: PaystackSandbox
    url: str
    receiver: Receiver
    integration: Integration
    factory: HttpFactory
    connector: Paystack

    def ctx(self, key: str | None = None, integration: Integration | None = None) -> ActionContext:
        integration = integration or self.integration
        return ActionContext(integration, self.factory.for_integration(self.connector, integration), key)

    async def complete(self, reference: str, **asked: Any) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.url}/__sandbox/complete/{reference}", json=asked)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def make_integration(url: str, secret: str = SECRET, webhook_url: str | None = None) -> Integration:
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="paystack",
        config=ConnectorConfig(base_url=url),
        credentials=PaystackCredentials(secret_key=SecretStr(secret)),
        webhook_url=webhook_url,
    )


@pytest.fixture
def served() -> Iterator[tuple[PaystackSandbox, str, Receiver, str]]:
    sandbox, receiver = PaystackSandbox(secret_key=SECRET), Receiver()
    with serving(sandbox) as url, serving(receiver) as receiver_url:
        yield sandbox, url, receiver, receiver_url


@pytest.fixture
async def world(served: tuple[PaystackSandbox, str, Receiver, str]) -> AsyncIterator[World]:
    sandbox, url, receiver, receiver_url = served
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{url}/__sandbox/webhook", json={"url": f"{receiver_url}/hook"})
        assert answer.status_code == 200
    factory = HttpFactory(retry=Retry(attempts=3, base_seconds=0.001))
    yield World(
        sandbox, url, receiver, make_integration(url, webhook_url=f"{receiver_url}/hook"), factory, Paystack()
    )
    await factory.aclose()


class TestPaystackConformance(ConnectorConformance):
    connector_class = Paystack

    @pytest.fixture
    def integration(self, served: tuple[PaystackSandbox, str, Receiver, str]) -> Integration:
        return make_integration(served[1])

    @pytest.fixture
    def bad_integration(self, served: tuple[PaystackSandbox, str, Receiver, str]) -> Integration:
        return make_integration(served[1], secret="sk_test_not_the_right_key_000000")

    @pytest.fixture
    def webhook_delivery(self, served: tuple[PaystackSandbox, str, Receiver, str]) -> InboundRequest:
        body, headers = served[0].delivery(
            "charge.success",
            {
                "id": 696134701,
                "status": "success",
                "reference": "ref-1",
                "amount": 10000,
                "currency": "NGN",
                "gateway_response": "Successful",
                "customer": {"email": "test.user@email.com"},
            },
        )
        return InboundRequest("POST", body, headers)


async def test_checkout_completes_with_a_signed_webhook_and_verifies_for_the_exact_amount(
    world: World,
) -> None:
    ctx = world.ctx("run-7:pay")
    out = await world.connector.call(
        "initialize_transaction",
        ctx,
        {
            "amount_minor": 250050,
            "currency": "NGN",
            "email": "ada@example.ng",
            "callback_url": "https://shop.example/paid",
        },
    )
    assert out.reference == reference_for("run-7:pay")
    assert out.authorization_url == f"https://checkout.paystack.com/{out.access_code}"
    sent = world.sandbox.calls[-1][2]
    assert (sent["amount"], sent["currency"], sent["reference"]) == (250050, "NGN", out.reference)
    before = await world.connector.call("verify_transaction", world.ctx(), {"reference": out.reference})
    assert before.status == "abandoned"

    completed = await world.complete(out.reference)
    assert (
        completed["redirect"] == f"https://shop.example/paid?trxref={out.reference}&reference={out.reference}"
    )
    (delivery,) = await world.receiver.wait_for(1)
    world.connector.verify_webhook(world.integration, delivery)
    (event,) = world.connector.parse_webhook(world.integration, delivery)
    assert event.kind == "payment.succeeded"
    assert event.reference == out.reference
    assert event.data["amount_minor"] == 250050
    assert event.data["currency"] == "NGN"
    assert event.data["email"] == "ada@example.ng"
    assert event.event_id == f"charge.success:{event.data['provider_ref']}"

    verified = await world.connector.call(
        "verify_transaction",
        world.ctx(),
        {"reference": out.reference, "expected_amount_minor": 250050, "expected_currency": "NGN"},
    )
    assert (verified.status, verified.amount_minor, verified.currency) == ("succeeded", 250050, "NGN")
    assert verified.provider_ref == event.data["provider_ref"]
    with pytest.raises(Rejected, match="not the 250000 asked"):
        await world.connector.call(
            "verify_transaction", world.ctx(), {"reference": out.reference, "expected_amount_minor": 250000}
        )
    with pytest.raises(Rejected, match="not GHS"):
        await world.connector.call(
            "verify_transaction", world.ctx(), {"reference": out.reference, "expected_currency": "GHS"}
        )


async def test_a_declined_charge_sends_no_webhook_and_verifies_failed(world: World) -> None:
    out = await world.connector.call(
        "initialize_transaction",
        world.ctx("run-8:pay"),
        {"amount_minor": 5000, "email": "decline@example.ng"},
    )
    assert (await world.complete(out.reference))["status"] == "failed"
    assert world.sandbox.callbacks.sent == []
    assert world.sandbox.callbacks.pending == 0
    verified = await world.connector.call("verify_transaction", world.ctx(), {"reference": out.reference})
    assert (verified.status, verified.reason) == ("failed", "Declined")


async def test_abandoned_and_pending_checkouts_verify_as_such(world: World) -> None:
    first = await world.connector.call(
        "initialize_transaction",
        world.ctx("run-9:pay"),
        {"amount_minor": 5000, "email": "abandon@example.ng"},
    )
    await world.complete(first.reference)
    second = await world.connector.call(
        "initialize_transaction", world.ctx("run-10:pay"), {"amount_minor": 5000, "email": "a@example.ng"}
    )
    await world.complete(second.reference, outcome="pending")
    statuses = [
        (await world.connector.call("verify_transaction", world.ctx(), {"reference": r})).status
        for r in (first.reference, second.reference)
    ]
    assert statuses == ["abandoned", "pending"]
    with pytest.raises(Rejected) as caught:
        await world.connector.call("verify_transaction", world.ctx(), {"reference": "no-such-ref"})
    assert caught.value.provider_code == "transaction_not_found"


async def test_a_repeated_initialize_is_refused_as_a_duplicate_reference(world: World) -> None:
    given = {"amount_minor": 100000, "currency": "GHS", "email": "kofi@example.gh"}
    await world.connector.call("initialize_transaction", world.ctx("run-11:pay"), given)
    with pytest.raises(Rejected) as caught:
        await world.connector.call("initialize_transaction", world.ctx("run-11:pay"), given)
    assert caught.value.provider_code == "duplicate_reference"
    assert "Duplicate Transaction Reference" in caught.value.message
    assert len(world.sandbox.transactions) == 1
    with pytest.raises(Rejected, match="idempotency key"):
        await world.connector.call("initialize_transaction", world.ctx(None), given)


async def test_refunds_in_part_then_in_whole_with_refund_webhooks(world: World) -> None:
    out = await world.connector.call(
        "initialize_transaction",
        world.ctx("run-12:pay"),
        {"amount_minor": 300000, "currency": "ZAR", "email": "thandi@example.za"},
    )
    await world.complete(out.reference)
    await world.receiver.wait_for(1)
    part = await world.connector.call(
        "refund", world.ctx("run-12:refund"), {"reference": out.reference, "amount_minor": 100000}
    )
    assert (part.status, part.amount_minor, part.currency, part.reference) == (
        "pending",
        100000,
        "ZAR",
        out.reference,
    )
    assert world.sandbox.calls[-1][2]["merchant_note"] == f"smeflow {reference_for('run-12:refund')}"
    with pytest.raises(Rejected, match="Refund amount"):
        await world.connector.call(
            "refund", world.ctx("run-12:refund2"), {"reference": out.reference, "amount_minor": 200001}
        )
    rest = await world.connector.call("refund", world.ctx("run-12:refund3"), {"reference": out.reference})
    assert rest.amount_minor == 200000
    deliveries = await world.receiver.wait_for(3)
    events = [e for d in deliveries[1:] for e in world.connector.parse_webhook(world.integration, d)]
    for delivery in deliveries:
        world.connector.verify_webhook(world.integration, delivery)
    assert [(e.kind, e.reference, e.data["amount_minor"]) for e in events] == [
        ("refund.processed", out.reference, 100000),
        ("refund.processed", out.reference, 200000),
    ]
    assert len({e.event_id for e in events}) == 2
    verified = await world.connector.call("verify_transaction", world.ctx(), {"reference": out.reference})
    assert verified.status == "reversed"
    with pytest.raises(Rejected, match="fully reversed"):
        await world.connector.call("refund", world.ctx("run-12:refund4"), {"reference": out.reference})


async def test_transfer_to_a_recipient_with_its_webhook_and_a_repeat_that_pays_once(world: World) -> None:
    recipient = {"type": "nuban", "name": "Chidi Okeke", "account_number": "0123456789", "bank_code": "058"}
    first = await world.connector.call("create_transfer_recipient", world.ctx("run-13:rcp"), recipient)
    again = await world.connector.call("create_transfer_recipient", world.ctx("run-13:rcp"), recipient)
    assert first.recipient_code.startswith("RCP_")
    assert again.recipient_code == first.recipient_code
    balance = world.sandbox.balances["NGN"]
    given = {
        "amount_minor": 1_500_000,
        "currency": "NGN",
        "recipient": first.recipient_code,
        "reason": "May pay",
    }
    out = await world.connector.call("transfer", world.ctx("run-13:pay"), given)
    assert (out.status, out.amount_minor, out.reference) == (
        "pending",
        1_500_000,
        reference_for("run-13:pay"),
    )
    (delivery,) = await world.receiver.wait_for(1)
    world.connector.verify_webhook(world.integration, delivery)
    (event,) = world.connector.parse_webhook(world.integration, delivery)
    assert (event.kind, event.reference, event.data["amount_minor"]) == (
        "transfer.succeeded",
        out.reference,
        1_500_000,
    )
    assert event.data["provider_ref"] == out.transfer_code

    repeat = await world.connector.call("transfer", world.ctx("run-13:pay"), given)
    assert (repeat.transfer_code, repeat.status) == (out.transfer_code, "succeeded")
    assert len(world.sandbox.transfers) == 1
    assert world.sandbox.balances["NGN"] == balance - 1_500_000
    with pytest.raises(Rejected) as caught:
        await world.connector.call("transfer", world.ctx("run-13:pay"), {**given, "amount_minor": 1_500_001})
    assert caught.value.provider_code == "duplicate_reference"


async def test_failed_and_reversed_transfers_arrive_as_transfer_failed(world: World) -> None:
    rcp = await world.connector.call(
        "create_transfer_recipient",
        world.ctx("run-14:rcp"),
        {
            "type": "mobile_money",
            "name": "Ama",
            "account_number": "0241234567",
            "bank_code": "MTN",
            "currency": "GHS",
        },
    )
    world.sandbox.script("transfer", "failed")
    await world.connector.call(
        "transfer",
        world.ctx("run-14:a"),
        {"amount_minor": 5000, "currency": "GHS", "recipient": rcp.recipient_code},
    )
    await world.connector.call(
        "transfer",
        world.ctx("run-14:b"),
        {"amount_minor": 5014, "currency": "GHS", "recipient": rcp.recipient_code},
    )
    deliveries = await world.receiver.wait_for(2)
    events = sorted(
        (e for d in deliveries for e in world.connector.parse_webhook(world.integration, d)),
        key=lambda e: e.data["amount_minor"],
    )
    assert [(e.kind, e.data["provider_code"]) for e in events] == [
        ("transfer.failed", "failed"),
        ("transfer.failed", "reversed"),
    ]
    with pytest.raises(Rejected) as caught:
        await world.connector.call(
            "transfer",
            world.ctx("run-14:c"),
            {"amount_minor": 10**13, "currency": "GHS", "recipient": rcp.recipient_code},
        )
    assert caught.value.provider_code == "insufficient_balance"


async def test_webhook_scenarios_drop_twice_and_delay(world: World) -> None:
    refs = []
    for n in range(3):
        out = await world.connector.call(
            "initialize_transaction",
            world.ctx(f"run-15:{n}"),
            {"amount_minor": 7000 + n, "email": "o@example.ng"},
        )
        refs.append(out.reference)
    assert (await world.complete(refs[0], webhook="drop"))["webhook"] == "dropped"
    assert world.sandbox.callbacks.sent == []
    assert world.sandbox.callbacks.pending == 0
    verified = await world.connector.call("verify_transaction", world.ctx(), {"reference": refs[0]})
    assert verified.status == "succeeded"  # a lost webhook is reconciled by verifying

    await world.complete(refs[1], webhook="twice")
    first, second = await world.receiver.wait_for(2)
    (a,) = world.connector.parse_webhook(world.integration, first)
    (b,) = world.connector.parse_webhook(world.integration, second)
    assert a.event_id == b.event_id
    assert a.reference == refs[1]

    world.sandbox.script("webhook", 1.0)
    await world.complete(refs[2])
    assert len(world.receiver.deliveries) == 2  # not yet: it waits a second
    (_, _, delayed) = await world.receiver.wait_for(3)
    (c,) = world.connector.parse_webhook(world.integration, delayed)
    assert c.reference == refs[2]


def test_forged_deliveries_are_refused(world: World) -> None:
    data = {"id": 1, "status": "success", "reference": "r-1", "amount": 100, "currency": "NGN"}
    body, headers = world.sandbox.delivery("charge.success", data)
    wrong_key = InboundRequest("POST", body, {**headers, "x-paystack-signature": sign("sk_test_other", body)})
    with pytest.raises(AuthFailed):
        world.connector.verify_webhook(world.integration, wrong_key)
    for index in (0, len(body) // 3, len(body) - 1):
        changed = bytearray(body)
        changed[index] ^= 0x20
        with pytest.raises(AuthFailed):
            world.connector.verify_webhook(world.integration, InboundRequest("POST", bytes(changed), headers))
    world.connector.verify_webhook(world.integration, InboundRequest("POST", body, headers))
    (event,) = world.connector.parse_webhook(
        world.integration,
        InboundRequest(
            "POST",
            *world.sandbox.delivery(
                "charge.failed", {**data, "status": "failed", "gateway_response": "Declined"}
            ),
        ),
    )
    assert (event.kind, event.data["reason"]) == ("payment.failed", "Declined")
    unknown = InboundRequest("POST", *world.sandbox.delivery("subscription.create", {}))
    assert world.connector.parse_webhook(world.integration, unknown) == []


async def test_provider_failures_become_typed_errors(world: World) -> None:
    world.sandbox.script("answer", *[(502, {"status": False, "message": "Bad gateway"})] * 3)
    with pytest.raises(Unavailable):
        await world.connector.call("verify_transaction", world.ctx(), {"reference": "r-1"})
    world.sandbox.script("answer", (502, {"status": False, "message": "Bad gateway"}))
    with pytest.raises(Unavailable):
        await world.connector.call(
            "initialize_transaction", world.ctx("run-16:pay"), {"amount_minor": 100, "email": "x@example.ng"}
        )
    assert len(world.sandbox.calls) == 4  # the GET was retried, the payment sent once
    world.sandbox.script("answer", (200, {"status": True, "message": "ok", "data": {"id": 1}}))
    with pytest.raises(Exception, match="no reference") as caught:
        await world.connector.call("verify_transaction", world.ctx(), {"reference": "r-1"})
    assert type(caught.value).__name__ == "InvalidResponse"
    with pytest.raises(Rejected, match="letters, digits"):
        await world.connector.call("verify_transaction", world.ctx(), {"reference": "../balance"})


def test_amounts_round_trip_exactly_through_paystack_subunits() -> None:
    sandbox = PaystackSandbox(secret_key=SECRET)
    with serving(sandbox) as url:
        integration = make_integration(url)
        connector = Paystack()
        counter = iter(range(10**6))

        async def round_trip(amount_minor: int, currency: str) -> None:
            factory = HttpFactory()
            try:
                ctx = ActionContext(
                    integration, factory.for_integration(connector, integration), f"k{next(counter)}"
                )
                out = await connector.call(
                    "initialize_transaction",
                    ctx,
                    {"amount_minor": amount_minor, "currency": currency, "email": "h@example.ng"},
                )
                assert sandbox.calls[-1][2]["amount"] == amount_minor  # subunits are minor units
                async with httpx.AsyncClient() as client:
                    await client.post(f"{url}/__sandbox/complete/{out.reference}", json={})
                verified = await connector.call("verify_transaction", ctx, {"reference": out.reference})
                assert (verified.status, verified.amount_minor, verified.currency) == (
                    "succeeded",
                    amount_minor,
                    currency,
                )
            finally:
                await factory.aclose()

        @given(st.integers(min_value=1, max_value=10**13), st.sampled_from(["NGN", "GHS", "ZAR", "KES"]))
        @settings(max_examples=40)
        def check(amount_minor: int, currency: str) -> None:
            asyncio.run(round_trip(amount_minor, currency))

        check()


async def test_no_credential_in_debug_logs_errors_or_outputs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    shown: list[str] = []
    bad = make_integration(world.url, secret="sk_live_leaky_value_9f8e7d6c5b4a")
    with pytest.raises(AuthFailed) as refused:
        await world.connector.check(world.ctx(integration=bad))
    shown += [str(refused.value), repr(refused.value.extra), repr(bad.credentials)]
    await world.connector.check(world.ctx())
    out = await world.connector.call(
        "initialize_transaction", world.ctx("run-17:pay"), {"amount_minor": 990, "email": "e@example.ng"}
    )
    await world.complete(out.reference)
    await world.receiver.wait_for(1)
    verified = await world.connector.call("verify_transaction", world.ctx(), {"reference": out.reference})
    shown += [out.model_dump_json(), verified.model_dump_json()]
    with pytest.raises(Rejected) as duplicate:
        await world.connector.call(
            "initialize_transaction", world.ctx("run-17:pay"), {"amount_minor": 990, "email": "e@example.ng"}
        )
    shown.append(str(duplicate.value))
    assert caplog.records
    for secret in (SECRET, "sk_live_leaky_value_9f8e7d6c5b4a"):
        assert secret not in caplog.text
        assert all(secret not in text for text in shown)


async def test_the_sandbox_speaks_paystack_envelopes_and_form_bodies(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.url) as client:
        refused = await client.get("/balance", headers={"Authorization": "Bearer sk_test_wrong"})
        assert (refused.status_code, refused.json()) == (401, {"status": False, "message": "Invalid key"})
        form = await client.post(
            "/transaction/initialize",
            data={"email": "f@example.ng", "amount": "12345", "reference": "form-ref-1"},
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        assert form.status_code == 200
        assert form.json()["data"]["reference"] == "form-ref-1"
    verified = await world.connector.call("verify_transaction", world.ctx(), {"reference": "form-ref-1"})
    assert (verified.amount_minor, verified.currency, verified.status) == (12345, "NGN", "abandoned")
    for control in (
        "drop",
        "twice",
        "delay",
        "decline@",
        "abandon@",
        "duplicate_reference",
        "/__sandbox/webhook",
    ):
        assert control in PaystackSandbox.scenarios
