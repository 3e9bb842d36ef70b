"""Flutterwave v3: the conformance suite and the flows, over real HTTP against FlutterwaveSandbox."""

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
    HttpFactory,
    InboundRequest,
    Integration,
    Rejected,
    Retry,
    Unavailable,
)
from smeflow.connectors.flutterwave import (
    Flutterwave,
    FlutterwaveConfig,
    FlutterwaveCredentials,
    FlutterwaveSandbox,
    major_text,
    signature,
    tx_ref_for,
)
from smeflow.connectors.sandbox import serving
from smeflow.connectors.testing import ConnectorConformance
from smeflow.core.money import from_major

from .receiver import Receiver

SECRET = "FLWSECK_TEST-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d-X"
HASH = "my-webhook-hash-3f9c2a71"
CHECKOUT = {"redirect_url": "https://shop.example/paid", "email": "wanjiru@example.ke"}


def make_integration(url: str, secret: str = SECRET, secret_hash: str = HASH, **config: Any) -> Integration:
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="flutterwave",
        config=FlutterwaveConfig(base_url=f"{url}/v3", **config),
        credentials=FlutterwaveCredentials(secret_key=SecretStr(secret), secret_hash=SecretStr(secret_hash)),
    )


@dataclass
class World:
    sandbox: FlutterwaveSandbox
    url: str
    receiver: Receiver
    integration: Integration
    factory: HttpFactory
    connector: Flutterwave

    def ctx(self, key: str | None = None, integration: Integration | None = None) -> ActionContext:
        integration = integration or self.integration
        return ActionContext(integration, self.factory.for_integration(self.connector, integration), key)

    async def complete(self, tx_ref: str, **asked: Any) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.url}/__sandbox/complete/{tx_ref}", json=asked)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def pay(
        self, key: str, amount_minor: int, currency: str = "KES", **asked: Any
    ) -> tuple[str, dict[str, Any]]:
        out = await self.connector.call(
            "create_payment", self.ctx(key), {"amount_minor": amount_minor, "currency": currency, **CHECKOUT}
        )
        return out.tx_ref, await self.complete(out.tx_ref, **asked)


@pytest.fixture
def served() -> Iterator[tuple[FlutterwaveSandbox, str, Receiver, str]]:
    sandbox, receiver = FlutterwaveSandbox(secret_key=SECRET, secret_hash=HASH), Receiver()
    with serving(sandbox) as url, serving(receiver) as receiver_url:
        yield sandbox, url, receiver, receiver_url


@pytest.fixture
async def world(served: tuple[FlutterwaveSandbox, str, Receiver, str]) -> AsyncIterator[World]:
    sandbox, url, receiver, receiver_url = served
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{url}/__sandbox/webhook", json={"url": f"{receiver_url}/hook"})
        assert answer.status_code == 200
    factory = HttpFactory(retry=Retry(attempts=3, base_seconds=0.001))
    yield World(sandbox, url, receiver, make_integration(url), factory, Flutterwave())
    await factory.aclose()


SAMPLE = {
    "id": 8321945,
    "tx_ref": "order_1736846575470",
    "flw_ref": "8016915561111736846576262",
    "amount": 50000,
    "currency": "NGN",
    "charged_amount": 50000,
    "status": "successful",
    "processor_response": "success",
    "customer": {"id": 2571514, "name": "jo boy", "phone_number": "+2348031234567", "email": "jo@example.ng"},
}


class TestFlutterwaveConformance(ConnectorConformance):
    connector_class = Flutterwave

    @pytest.fixture
    def integration(self, served: tuple[FlutterwaveSandbox, str, Receiver, str]) -> Integration:
        return make_integration(served[1])

    @pytest.fixture
    def bad_integration(self, served: tuple[FlutterwaveSandbox, str, Receiver, str]) -> Integration:
        return make_integration(served[1], secret="FLWSECK_TEST-0000000000wrong0000000000-X")

    @pytest.fixture
    def webhook_delivery(self, served: tuple[FlutterwaveSandbox, str, Receiver, str]) -> InboundRequest:
        return InboundRequest("POST", *served[0].delivery(SAMPLE))


async def test_checkout_completes_with_a_webhook_and_verifies_by_id_and_by_tx_ref(world: World) -> None:
    out = await world.connector.call(
        "create_payment",
        world.ctx("run-3:pay"),
        {"amount_minor": 150050, "currency": "KES", "phone": "+254712345678", "name": "Wanjiru", **CHECKOUT},
    )
    assert out.tx_ref == tx_ref_for("run-3:pay")
    assert out.link.startswith("https://checkout.flutterwave.com/v3/hosted/pay/")
    sent = world.sandbox.calls[-1][2]
    assert (sent["amount"], sent["currency"], sent["tx_ref"]) == ("1500.50", "KES", out.tx_ref)
    assert sent["customer"] == {
        "email": "wanjiru@example.ke",
        "phonenumber": "+254712345678",
        "name": "Wanjiru",
    }
    with pytest.raises(Rejected, match="No transaction was found"):
        await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": out.tx_ref})

    completed = await world.complete(out.tx_ref)
    ident = completed["transaction_id"]
    assert completed["redirect"] == (
        f"https://shop.example/paid?status=successful&tx_ref={out.tx_ref}&transaction_id={ident}"
    )
    (delivery,) = await world.receiver.wait_for(1)
    assert {"verif-hash", "flutterwave-signature"} <= set(delivery.headers)
    world.connector.verify_webhook(world.integration, delivery)
    (event,) = world.connector.parse_webhook(world.integration, delivery)
    assert (event.kind, event.reference) == ("payment.succeeded", out.tx_ref)
    assert event.data == {
        "amount_minor": 150050,
        "currency": "KES",
        "provider_ref": str(ident),
        "email": "wanjiru@example.ke",
        "phone": "+254712345678",
    }
    expected = {"expected_amount_minor": 150050, "expected_currency": "KES"}
    by_id = await world.connector.call(
        "verify_transaction",
        world.ctx(),
        {"transaction_id": ident, "expected_tx_ref": out.tx_ref, **expected},
    )
    by_ref = await world.connector.call(
        "verify_by_reference", world.ctx(), {"tx_ref": out.tx_ref, **expected}
    )
    assert by_id == by_ref
    assert (by_id.status, by_id.amount_minor, by_id.currency, by_id.provider_ref) == (
        "succeeded",
        150050,
        "KES",
        event.data["provider_ref"],
    )
    with pytest.raises(Rejected, match="not for sf-other"):
        await world.connector.call(
            "verify_transaction", world.ctx(), {"transaction_id": ident, "expected_tx_ref": "sf-other"}
        )
    with pytest.raises(Rejected, match="No transaction was found for this id"):
        await world.connector.call("verify_transaction", world.ctx(), {"transaction_id": ident + 1000})


async def test_a_smaller_payment_or_another_currency_is_refused(world: World) -> None:
    less, _ = await world.pay("run-4:less", 150050, paid_amount="1000")
    other, _ = await world.pay(
        "run-4:usd", 150050, currency="KES", paid_currency="USD", paid_amount="1500.50"
    )
    more, _ = await world.pay("run-4:more", 150050, paid_amount="1600")
    expected = {"expected_amount_minor": 150050, "expected_currency": "KES"}
    with pytest.raises(Rejected) as caught:
        await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": less, **expected})
    assert caught.value.extra == {"check": "amount"}
    assert "100000 minor units" in caught.value.message
    with pytest.raises(Rejected) as caught:
        await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": other, **expected})
    assert caught.value.extra == {"check": "currency"}
    paid_more = await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": more, **expected})
    assert (paid_more.status, paid_more.amount_minor) == ("succeeded", 160000)
    unchecked = await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": less})
    assert (unchecked.status, unchecked.amount_minor) == ("succeeded", 100000)


async def test_a_declined_charge_arrives_as_payment_failed(world: World) -> None:
    out = await world.connector.call(
        "create_payment",
        world.ctx("run-5:pay"),
        {
            "amount_minor": 200000,
            "currency": "NGN",
            "redirect_url": "https://shop.example/p",
            "email": "decline@example.ng",
        },
    )
    assert (await world.complete(out.tx_ref))["status"] == "failed"
    (delivery,) = await world.receiver.wait_for(1)
    world.connector.verify_webhook(world.integration, delivery)
    (event,) = world.connector.parse_webhook(world.integration, delivery)
    assert (event.kind, event.reference, event.data["reason"]) == ("payment.failed", out.tx_ref, "Declined")
    verified = await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": out.tx_ref})
    assert (verified.status, verified.reason) == ("failed", "Declined")


async def test_a_pending_charge_sends_nothing_until_it_completes(world: World) -> None:
    tx_ref, answer = await world.pay("run-6:pay", 70000, currency="GHS", outcome="pending")
    assert answer["webhook"] == "none"
    assert world.sandbox.callbacks.sent == []
    pending = await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": tx_ref})
    assert pending.status == "pending"
    await world.complete(tx_ref, outcome="successful")
    (delivery,) = await world.receiver.wait_for(1)
    (event,) = world.connector.parse_webhook(world.integration, delivery)
    assert (event.kind, event.data["amount_minor"], event.data["currency"]) == (
        "payment.succeeded",
        70000,
        "GHS",
    )
    assert (
        await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": tx_ref})
    ).status == "succeeded"


async def test_a_repeated_create_payment_is_refused_as_a_duplicate(world: World) -> None:
    given = {"amount_minor": 5000, "currency": "UGX", **CHECKOUT}
    await world.connector.call("create_payment", world.ctx("run-7:pay"), given)
    with pytest.raises(Rejected, match="Duplicate transaction reference"):
        await world.connector.call("create_payment", world.ctx("run-7:pay"), given)
    assert len(world.sandbox.payments) == 1
    with pytest.raises(Rejected, match="idempotency key"):
        await world.connector.call("create_payment", world.ctx(None), given)


async def test_ugx_has_no_minor_unit(world: World) -> None:
    tx_ref, _ = await world.pay("run-8:pay", 25000, currency="UGX")
    assert world.sandbox.calls[0][2]["amount"] == "25000"
    verified = await world.connector.call(
        "verify_by_reference",
        world.ctx(),
        {"tx_ref": tx_ref, "expected_amount_minor": 25000, "expected_currency": "UGX"},
    )
    assert (verified.amount_minor, verified.currency) == (25000, "UGX")
    (delivery,) = await world.receiver.wait_for(1)
    (event,) = world.connector.parse_webhook(world.integration, delivery)
    assert event.data["amount_minor"] == 25000


async def test_legacy_verif_hash_deliveries_and_require_signature(world: World) -> None:
    world.sandbox.script("signature", "legacy")
    await world.pay("run-9:pay", 10000)
    (delivery,) = await world.receiver.wait_for(1)
    assert "flutterwave-signature" not in delivery.headers
    world.connector.verify_webhook(world.integration, delivery)
    strict = make_integration(world.url, require_signature=True)
    with pytest.raises(AuthFailed, match="not signed"):
        world.connector.verify_webhook(strict, delivery)
    wrong = InboundRequest("POST", delivery.body, {**delivery.headers, "verif-hash": HASH + "x"})
    with pytest.raises(AuthFailed):
        world.connector.verify_webhook(world.integration, wrong)


def test_forged_deliveries_are_refused(world: World) -> None:
    body, headers = world.sandbox.delivery(SAMPLE)
    world.connector.verify_webhook(world.integration, InboundRequest("POST", body, headers))
    forged = {**headers, "flutterwave-signature": signature("another-hash", body)}
    with pytest.raises(AuthFailed):
        world.connector.verify_webhook(world.integration, InboundRequest("POST", body, forged))
    for index in (0, len(body) // 2, len(body) - 1):
        changed = bytearray(body)
        changed[index] ^= 0x04
        with pytest.raises(AuthFailed):
            world.connector.verify_webhook(world.integration, InboundRequest("POST", bytes(changed), headers))
    other_account = make_integration(world.url, secret_hash="someone-elses-hash")
    with pytest.raises(AuthFailed):
        world.connector.verify_webhook(other_account, InboundRequest("POST", body, headers))
    transfer = InboundRequest("POST", b'{"event":"transfer.completed","data":{"id":1}}', headers)
    assert world.connector.parse_webhook(world.integration, transfer) == []


async def test_webhook_scenarios_drop_twice_and_delay(world: World) -> None:
    dropped, answer = await world.pay("run-10:a", 1000, webhook="drop")
    assert answer["webhook"] == "dropped"
    assert world.sandbox.callbacks.sent == []
    reconciled = await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": dropped})
    assert reconciled.status == "succeeded"
    twice, _ = await world.pay("run-10:b", 1000, webhook="twice")
    first, second = await world.receiver.wait_for(2)
    (a,), (b,) = (world.connector.parse_webhook(world.integration, d) for d in (first, second))
    assert (a.event_id, a.reference) == (b.event_id, twice)
    delayed, _ = await world.pay("run-10:c", 1000, delay=1.0)
    assert len(world.receiver.deliveries) == 2  # not yet: it waits a second
    (_, _, third) = await world.receiver.wait_for(3)
    assert world.connector.parse_webhook(world.integration, third)[0].reference == delayed


async def test_provider_failures_become_typed_errors(world: World) -> None:
    world.sandbox.script("answer", *[(503, {"status": "error", "message": "down", "data": None})] * 3)
    with pytest.raises(Unavailable):
        await world.connector.call("verify_transaction", world.ctx(), {"transaction_id": 1})
    world.sandbox.script("answer", (503, {"status": "error", "message": "down", "data": None}))
    with pytest.raises(Unavailable):
        await world.connector.call(
            "create_payment", world.ctx("run-11:pay"), {"amount_minor": 100, **CHECKOUT}
        )
    assert len(world.sandbox.calls) == 4  # the GET was retried, the payment sent once
    world.sandbox.script(
        "answer",
        (
            200,
            {
                "status": "success",
                "data": {"id": 1, "tx_ref": "t", "currency": "UGX", "amount": 10.5, "status": "successful"},
            },
        ),
    )
    with pytest.raises(Exception, match="does not fit UGX") as caught:
        await world.connector.call("verify_transaction", world.ctx(), {"transaction_id": 1})
    assert type(caught.value).__name__ == "InvalidResponse"
    with pytest.raises(Rejected, match="currency"):
        await world.connector.call(
            "create_payment", world.ctx("run-11:b"), {"amount_minor": 1, "currency": "XYZ", **CHECKOUT}
        )


@pytest.mark.parametrize("currency", ["NGN", "GHS", "ZAR", "KES", "UGX"])
def test_amounts_round_trip_exactly_through_major_units(currency: str) -> None:
    @given(st.integers(min_value=1, max_value=10**13))
    @settings(max_examples=200)
    def check(amount_minor: int) -> None:
        text = major_text(amount_minor, currency)
        assert from_major(text, currency) == amount_minor
        assert ("." in text) == (currency != "UGX")

    check()


def test_amounts_round_trip_exactly_through_the_sandbox() -> None:
    sandbox = FlutterwaveSandbox(secret_key=SECRET, secret_hash=HASH)
    with serving(sandbox) as url:
        integration = make_integration(url)
        connector = Flutterwave()
        counter = iter(range(10**6))

        async def round_trip(amount_minor: int, currency: str) -> None:
            factory = HttpFactory()
            try:
                ctx = ActionContext(
                    integration, factory.for_integration(connector, integration), f"k{next(counter)}"
                )
                out = await connector.call(
                    "create_payment", ctx, {"amount_minor": amount_minor, "currency": currency, **CHECKOUT}
                )
                async with httpx.AsyncClient() as client:
                    await client.post(f"{url}/__sandbox/complete/{out.tx_ref}", json={})
                verified = await connector.call("verify_by_reference", ctx, {"tx_ref": out.tx_ref})
                assert (verified.amount_minor, verified.currency) == (amount_minor, currency)
            finally:
                await factory.aclose()

        @given(
            st.integers(min_value=1, max_value=10**12), st.sampled_from(["NGN", "GHS", "ZAR", "KES", "UGX"])
        )
        @settings(max_examples=40)
        def check(amount_minor: int, currency: str) -> None:
            asyncio.run(round_trip(amount_minor, currency))

        check()


async def test_no_credential_in_debug_logs_errors_or_outputs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    shown: list[str] = []
    bad = make_integration(world.url, secret="FLWSECK-leaky0123456789abcdef-X", secret_hash="leaky-hash-42")
    with pytest.raises(AuthFailed) as refused:
        await world.connector.check(world.ctx(integration=bad))
    shown += [str(refused.value), repr(refused.value.extra), repr(bad.credentials), repr(bad)]
    await world.connector.check(world.ctx())
    tx_ref, _ = await world.pay("run-12:pay", 99900)
    (delivery,) = await world.receiver.wait_for(1)
    with pytest.raises(AuthFailed) as forged:
        world.connector.verify_webhook(bad, delivery)
    events = world.connector.parse_webhook(world.integration, delivery)
    verified = await world.connector.call("verify_by_reference", world.ctx(), {"tx_ref": tx_ref})
    with pytest.raises(Rejected) as mismatch:
        await world.connector.call(
            "verify_by_reference", world.ctx(), {"tx_ref": tx_ref, "expected_currency": "NGN"}
        )
    shown += [
        str(forged.value),
        verified.model_dump_json(),
        str(mismatch.value),
        *(e.model_dump_json() for e in events),
    ]
    assert caplog.records
    for secret in (SECRET, HASH, "FLWSECK-leaky0123456789abcdef-X", "leaky-hash-42"):
        assert secret not in caplog.text
        assert all(secret not in text for text in shown)


async def test_the_sandbox_speaks_flutterwave_v3_envelopes(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.url) as client:
        refused = await client.get("/v3/balances", headers={"Authorization": "Bearer FLWSECK_TEST-wrong"})
        assert refused.status_code == 401
        assert refused.json() == {"status": "error", "message": "Invalid authorization key", "data": None}
        too_precise = await client.post(
            "/v3/payments",
            json={
                "tx_ref": "t-1",
                "amount": "10.5",
                "currency": "UGX",
                "redirect_url": "https://x.example/",
                "customer": {"email": "u@example.ug"},
            },
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        assert (too_precise.status_code, too_precise.json()["status"]) == (400, "error")
    for control in ("drop", "twice", "delay", "decline@", "paid_amount", "legacy", "/__sandbox/webhook"):
        assert control in FlutterwaveSandbox.scenarios
