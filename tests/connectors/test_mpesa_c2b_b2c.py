"""M-Pesa C2B (URL registration, simulated customer payments: validation then confirmation) and
B2C payouts (results, failures, duplicates, queue timeouts), over real HTTP to the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from connectors.mpesa_support import HOOK_TOKEN, Receiver, context, factory, integration_for, wait_until
from smeflow.connectors import AuthFailed, HttpFactory, Integration, Rejected
from smeflow.connectors.mpesa import (
    B2C_MAGIC,
    SANDBOX_SHORTCODE,
    B2cPaymentOut,
    C2bRegisterOut,
    Mpesa,
    MpesaSandbox,
)
from smeflow.connectors.sandbox import SandboxServer

PHONE = "+254712345678"


@pytest.fixture
def served() -> Iterator[tuple[MpesaSandbox, str]]:
    sandbox = MpesaSandbox()
    sandbox.apps["simulator-key"] = "simulator-secret"  # a second app, for the simulate calls
    with SandboxServer(sandbox) as url:
        yield sandbox, url


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hooks = Receiver(Mpesa())
    with SandboxServer(hooks) as url:
        yield hooks, f"{url}/hooks/{HOOK_TOKEN}"


@pytest.fixture
async def http() -> AsyncIterator[HttpFactory]:
    made = factory()
    yield made
    await made.aclose()


@pytest.fixture
def payouts(served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str]) -> Integration:
    return integration_for(served[1], receiver[1], security_credential=served[0].security_credential())


async def daraja(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """A raw call to the sandbox as the simulator app (its own token)."""
    async with httpx.AsyncClient(base_url=url) as client:
        token = await client.get(
            "/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=("simulator-key", "simulator-secret"),
        )
        return await client.post(
            path, json=body, headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )


async def register(integration: Integration, http: HttpFactory, **given: Any) -> C2bRegisterOut:
    out = await Mpesa().call("c2b_register_urls", context(integration, http, key="c2b:register"), given)
    assert isinstance(out, C2bRegisterOut)
    return out


# --- C2B ----------------------------------------------------------------------------------


async def test_c2b_validation_then_confirmation(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], http: HttpFactory
) -> None:
    sandbox, url = served
    hooks, webhook_url = receiver
    out = await register(integration_for(url, webhook_url), http)
    assert out.shortcode == SANDBOX_SHORTCODE
    assert out.confirmation_url == f"{webhook_url}?type=confirmation"
    assert out.validation_url == f"{webhook_url}?type=validation"
    registered = sandbox.c2b_urls[SANDBOX_SHORTCODE]
    assert (registered.response_type, registered.version) == ("Completed", "v2")

    answer = await daraja(
        url,
        "/mpesa/c2b/v2/simulate",
        {
            "ShortCode": 174379,
            "CommandID": "CustomerPayBillOnline",
            "Amount": 250,
            "Msisdn": 254712345678,
            "BillRefNumber": "INV-7",
        },
    )
    assert answer.json()["ResponseCode"] == "0"
    await wait_until(lambda: len(hooks.deliveries) == 2, "validation and confirmation")
    validation, confirmation = hooks.deliveries
    (asked,) = validation.events
    (paid,) = confirmation.events
    (trans_id,) = sandbox.c2b
    assert asked.kind == "c2b.validation"
    assert asked.event_id == f"c2b-validation:{trans_id}"
    assert orjson.loads(validation.reply) == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert paid.kind == "c2b.confirmation"
    assert paid.event_id == trans_id
    assert paid.reference == "INV-7"
    assert paid.data["amount_minor"] == 25000
    assert paid.data["currency"] == "KES"
    assert paid.data["provider_ref"] == trans_id
    assert paid.data["name"] == "JOHN DOE"
    assert "phone" not in paid.data  # v2 masks the MSISDN
    assert orjson.loads(confirmation.reply) == {"ResultCode": 0, "ResultDesc": "Success"}
    assert sandbox.c2b[trans_id].status == "confirmed"


async def test_c2b_v1_sends_the_whole_msisdn(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str]
) -> None:
    sandbox, url = served
    hooks, webhook_url = receiver
    sandbox.c2b_external_validation = False  # Daraja's default: only the confirmation
    answer = await daraja(
        url,
        "/mpesa/c2b/v1/registerurl",
        {
            "ShortCode": "600984",
            "ResponseType": "Completed",
            "ConfirmationURL": webhook_url,
            "ValidationURL": webhook_url,
        },
    )
    assert answer.json()["OriginatorCoversationID"]  # sic
    await daraja(
        url,
        "/mpesa/c2b/v1/simulate",
        {
            "ShortCode": "600984",
            "CommandID": "CustomerBuyGoodsOnline",
            "Amount": "40",
            "Msisdn": "254712345678",
        },
    )
    await wait_until(lambda: hooks.deliveries, "the confirmation")
    (event,) = hooks.events()
    # registered without our type marker: a confirmation is told by its balance
    assert event.kind == "c2b.confirmation"
    assert event.data["phone"] == PHONE
    assert event.data["transaction_type"] == "Buy Goods"


async def test_a_refused_validation_stops_the_payment(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], http: HttpFactory
) -> None:
    sandbox, url = served
    hooks, webhook_url = receiver
    hooks.validation_reply = orjson.dumps({"ResultCode": "C2B00012", "ResultDesc": "Rejected"})
    await register(integration_for(url, webhook_url), http)
    await daraja(
        url,
        "/mpesa/c2b/v2/simulate",
        {
            "ShortCode": SANDBOX_SHORTCODE,
            "CommandID": "CustomerPayBillOnline",
            "Amount": 5,
            "Msisdn": "254712345678",
            "BillRefNumber": "NOPE",
        },
    )
    await wait_until(lambda: any(p.status != "validating" for p in sandbox.c2b.values()), "the validation")
    (payment,) = sandbox.c2b.values()
    assert payment.status == "rejected"
    assert [e.kind for e in hooks.events()] == ["c2b.validation"]


async def test_c2b_urls_daraja_refuses_are_refused(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], http: HttpFactory
) -> None:
    sandbox, url = served
    ingress = integration_for(url, "https://smeflow.example/webhooks/mpesa/1/tok")
    with pytest.raises(Rejected, match="mpesa"):
        await register(ingress, http)
    assert not any("registerurl" in path for _, path, _ in sandbox.calls)
    answer = await daraja(
        url,
        "/mpesa/c2b/v2/registerurl",
        {
            "ShortCode": "600984",
            "ResponseType": "completed",
            "ConfirmationURL": receiver[1],
            "ValidationURL": receiver[1],
        },
    )
    assert (answer.status_code, answer.json()["errorCode"]) == (400, "400.002.02")
    answer = await daraja(
        url,
        "/mpesa/c2b/v2/registerurl",
        {
            "ShortCode": "600984",
            "ResponseType": "Completed",
            "ConfirmationURL": "https://x.example/sql",
            "ValidationURL": receiver[1],
        },
    )
    assert answer.json()["errorMessage"] == "Bad Request - Invalid ConfirmationURL"


# --- B2C ----------------------------------------------------------------------------------


async def pay_out(
    integration: Integration, http: HttpFactory, key: str, amount_kes: int = 500
) -> B2cPaymentOut:
    out = await Mpesa().call(
        "b2c_payment",
        context(integration, http, key=key),
        {"amount_minor": amount_kes * 100, "phone": PHONE, "remarks": "Refund INV-7", "occasion": "Refund"},
    )
    assert isinstance(out, B2cPaymentOut)
    return out


async def test_b2c_payment_result_arrives_as_transfer_succeeded(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], payouts: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    hooks, webhook_url = receiver
    out = await pay_out(payouts, http, "run-9:payout")
    assert out.originator_conversation_id == "run-9:payout"
    assert out.conversation_id
    assert out.conversation_id.startswith("AG_")
    assert not out.duplicate
    sent = next(body for _, path, body in sandbox.calls if path.endswith("/paymentrequest"))
    assert sent["Amount"] == 500
    assert sent["PartyB"] == "254712345678"
    assert sent["Occassion"] == "Refund"
    assert sent["ResultURL"] == f"{webhook_url}?type=b2c_result"
    assert sent["QueueTimeOutURL"] == f"{webhook_url}?type=b2c_timeout"
    await wait_until(lambda: hooks.deliveries, "the B2C result")
    (event,) = hooks.events()
    assert event.kind == "transfer.succeeded"
    assert event.reference == "run-9:payout"
    assert event.event_id == "b2c:run-9:payout:0"
    assert event.data == {
        "amount_minor": 50000,
        "currency": "KES",
        "provider_ref": sandbox.b2c["run-9:payout"].receipt,
        "phone": PHONE,
    }
    assert orjson.loads(hooks.deliveries[0].reply) == {"ResultCode": 0, "ResultDesc": "Accepted"}


@pytest.mark.parametrize(("amount", "code"), sorted(B2C_MAGIC.items()))
async def test_b2c_failures_arrive_as_transfer_failed(
    receiver: tuple[Receiver, str], payouts: Integration, http: HttpFactory, amount: int, code: int
) -> None:
    out = await pay_out(payouts, http, f"payout-{amount}", amount)
    await wait_until(lambda: receiver[0].deliveries, "the B2C result")
    (event,) = receiver[0].events()
    assert (event.kind, event.reference) == ("transfer.failed", out.originator_conversation_id)
    assert event.data["provider_code"] == str(code)
    assert event.data["reason"]


async def test_a_wrong_security_credential_is_invalid_initiator(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], http: HttpFactory
) -> None:
    wrong = integration_for(
        served[1], receiver[1], security_credential=served[0].security_credential("guess")
    )
    await pay_out(wrong, http, "payout-wrong")
    await wait_until(lambda: receiver[0].deliveries, "the B2C result")
    (event,) = receiver[0].events()
    assert event.kind == "transfer.failed"
    assert event.data["provider_code"] == "2001"


async def test_a_repeated_payout_is_recognised_not_paid_twice(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], payouts: Integration, http: HttpFactory
) -> None:
    first = await pay_out(payouts, http, "run-10:payout")
    again = await pay_out(payouts, http, "run-10:payout")
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.originator_conversation_id == first.originator_conversation_id
    await wait_until(lambda: receiver[0].deliveries, "the B2C result")
    assert len(served[0].b2c) == 1


async def test_a_queue_timeout_is_transfer_failed(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], payouts: Integration, http: HttpFactory
) -> None:
    served[0].script("b2c_callback", "timeout")
    out = await pay_out(payouts, http, "run-11:payout")
    await wait_until(lambda: receiver[0].deliveries, "the timeout")
    (delivery,) = receiver[0].deliveries
    assert delivery.request.query["type"] == "b2c_timeout"
    (event,) = delivery.events
    assert (event.kind, event.reference, event.data["provider_code"]) == (
        "transfer.failed",
        out.originator_conversation_id,
        "timeout",
    )


async def test_a_held_payout_finishes_when_released(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], payouts: Integration, http: HttpFactory
) -> None:
    served[0].script("b2c_callback", "hold")
    out = await pay_out(payouts, http, "run-12:payout")
    assert served[0].b2c[out.originator_conversation_id].result_code is None
    served[0].release(out.originator_conversation_id)
    await wait_until(lambda: receiver[0].deliveries, "the released result")
    assert receiver[0].events()[0].kind == "transfer.succeeded"


async def test_payouts_need_the_initiator(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], http: HttpFactory
) -> None:
    with pytest.raises(AuthFailed, match="initiator"):
        await pay_out(integration_for(served[1], receiver[1]), http, "payout-x")
    assert not any(path.endswith("/paymentrequest") for _, path, _ in served[0].calls)
