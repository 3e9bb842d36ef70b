"""M-Pesa Daraja: the conformance suite, tokens, STK Push end to end (success and each failure
code), STK Query, scenario controls, refusals and redaction, all over real HTTP to the sandbox."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from connectors.mpesa_support import HOOK_TOKEN, Receiver, context, factory, integration_for, wait_until
from smeflow.connectors import (
    AuthFailed,
    HttpFactory,
    InboundRequest,
    Integration,
    Rejected,
    Unavailable,
)
from smeflow.connectors.mpesa import (
    SANDBOX_CONSUMER_KEY,
    SANDBOX_CONSUMER_SECRET,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    STK_MAGIC,
    Mpesa,
    MpesaSandbox,
    StkPushIn,
    StkPushOut,
    StkQueryIn,
    StkQueryOut,
)
from smeflow.connectors.mpesa._sandbox_rules import stk_callback
from smeflow.connectors.sandbox import SandboxServer
from smeflow.connectors.testing import ConnectorConformance

PHONE = "+254708374149"


@pytest.fixture
def served() -> Iterator[tuple[MpesaSandbox, str]]:
    sandbox = MpesaSandbox()
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
def good(served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str]) -> Integration:
    return integration_for(served[1], receiver[1])


class TestMpesaConformance(ConnectorConformance):
    connector_class = Mpesa

    @pytest.fixture
    def integration(self, good: Integration) -> Integration:
        return good

    @pytest.fixture
    def bad_integration(self, served: tuple[MpesaSandbox, str]) -> Integration:
        return integration_for(served[1], None, consumer_secret="not-the-secret-0001")

    @pytest.fixture
    def webhook_delivery(self) -> InboundRequest:
        body = stk_callback(
            merchant="29115-34620561-1",
            checkout="ws_CO_191220191020363925",
            code=0,
            amount=1,
            phone="254708374149",
            receipt_no="NLJ7RT61SV",
            at=datetime.now(UTC),
        )
        return InboundRequest("POST", orjson.dumps(body), {"content-type": "application/json"})


def push_in(amount_kes: int = 1500, **kw: object) -> StkPushIn:
    return StkPushIn.model_validate(
        {"amount_minor": amount_kes * 100, "phone": PHONE, "account_reference": "INV-0042", **kw}
    )


def token_calls(sandbox: MpesaSandbox) -> int:
    return sum(1 for _, path, _ in sandbox.calls if path == "/oauth/v1/generate")


async def push(connector: Mpesa, ctx: object, data: StkPushIn) -> StkPushOut:
    out = await connector.call("stk_push", ctx, data)  # type: ignore[arg-type]
    assert isinstance(out, StkPushOut)
    return out


async def query(connector: Mpesa, ctx: object, checkout: str) -> StkQueryOut:
    out = await connector.call("stk_query", ctx, StkQueryIn(checkout_request_id=checkout))  # type: ignore[arg-type]
    assert isinstance(out, StkQueryOut)
    return out


# --- STK Push end to end ------------------------------------------------------------------


async def test_stk_push_succeeds_end_to_end(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    hooks, webhook_url = receiver
    mpesa = Mpesa()
    ctx = context(good, http, key="run-1:pay")
    out = await push(mpesa, ctx, push_in(1500))
    assert out.status == "pending"
    assert out.checkout_request_id.startswith("ws_CO_")
    assert (out.amount_minor, out.currency, out.phone) == (150000, "KES", PHONE)

    sent = next(body for _, path, body in sandbox.calls if path.endswith("/processrequest"))
    assert sent["Amount"] == 1500
    assert sent["PartyA"] == sent["PhoneNumber"] == "254708374149"
    assert sent["PartyB"] == sent["BusinessShortCode"] == SANDBOX_SHORTCODE
    assert sent["TransactionType"] == "CustomerPayBillOnline"
    assert sent["CallBackURL"] == webhook_url
    assert sent["AccountReference"] == "INV-0042"
    stamp = sent["Timestamp"]
    assert base64.b64decode(sent["Password"]).decode() == SANDBOX_SHORTCODE + SANDBOX_PASSKEY + stamp
    kenyan = datetime.strptime(stamp, "%Y%m%d%H%M%S")
    assert abs(kenyan - datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=3)) < timedelta(minutes=5)

    await wait_until(lambda: hooks.deliveries, "the STK callback")
    (delivery,) = hooks.deliveries
    (event,) = delivery.events
    payment = sandbox.stk[out.checkout_request_id]
    assert event.kind == "payment.succeeded"
    assert event.reference == out.checkout_request_id
    assert event.event_id == f"stk:{out.checkout_request_id}:0"
    assert event.data == {
        "amount_minor": 150000,
        "currency": "KES",
        "provider_ref": payment.receipt,
        "phone": PHONE,
    }
    assert orjson.loads(delivery.reply) == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert (await query(mpesa, ctx, out.checkout_request_id)).status == "succeeded"


@pytest.mark.parametrize(("amount", "code"), sorted(STK_MAGIC.items()))
async def test_each_failure_code_arrives_as_payment_failed(
    served: tuple[MpesaSandbox, str],
    receiver: tuple[Receiver, str],
    good: Integration,
    http: HttpFactory,
    amount: int,
    code: int,
) -> None:
    hooks, _ = receiver
    mpesa = Mpesa()
    ctx = context(good, http, key="run-2:pay")
    out = await push(mpesa, ctx, push_in(amount))
    await wait_until(lambda: hooks.deliveries, "the STK callback")
    (event,) = hooks.events()
    assert event.kind == "payment.failed"
    assert event.reference == out.checkout_request_id
    assert event.data["provider_code"] == str(code)
    assert isinstance(event.data["reason"], str)
    assert event.data["reason"]
    status = await query(mpesa, ctx, out.checkout_request_id)
    assert (status.status, status.result_code, status.reason) == ("failed", str(code), event.data["reason"])


async def test_reasons_name_the_customers_answer(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], good: Integration, http: HttpFactory
) -> None:
    served[0].script("stk_result", 1032)
    out = await push(Mpesa(), context(good, http), push_in(10))
    await wait_until(lambda: receiver[0].deliveries, "the STK callback")
    (event,) = receiver[0].events()
    assert event.reference == out.checkout_request_id
    assert event.data["reason"] == "The customer cancelled the payment."


# --- STK Query and the callback controls --------------------------------------------------


async def test_query_is_pending_until_the_customer_answers(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    mpesa = Mpesa()
    ctx = context(good, http)
    sandbox.script("stk_callback", "hold")
    out = await push(mpesa, ctx, push_in(200))
    pending = await query(mpesa, ctx, out.checkout_request_id)
    assert (pending.status, pending.result_code, pending.reason) == ("pending", None, None)
    # a second push to the same phone while one is pending: Daraja cannot lock the subscriber
    with pytest.raises(Unavailable) as caught:
        await push(mpesa, ctx, push_in(300))
    assert caught.value.provider_code == "500.001.1001"
    assert not receiver[0].deliveries
    sandbox.release(out.checkout_request_id)
    await wait_until(lambda: receiver[0].deliveries, "the released callback")
    assert (await query(mpesa, ctx, out.checkout_request_id)).status == "succeeded"


async def test_a_dropped_callback_is_reconciled_by_query(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    mpesa = Mpesa()
    ctx = context(good, http)
    sandbox.script("stk_callback", "drop")
    out = await push(mpesa, ctx, push_in(2001))
    await wait_until(lambda: sandbox.stk[out.checkout_request_id].result_code is not None, "the answer")
    status = await query(mpesa, ctx, out.checkout_request_id)
    assert (status.status, status.result_code) == ("failed", "2001")
    assert status.reason == "The customer entered a wrong M-Pesa PIN."
    assert sandbox.callbacks.sent == []
    assert receiver[0].deliveries == []


async def test_a_callback_sent_twice_carries_one_event_id(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], good: Integration, http: HttpFactory
) -> None:
    served[0].script("stk_callback", "twice")
    out = await push(Mpesa(), context(good, http), push_in(55))
    await wait_until(lambda: len(receiver[0].deliveries) == 2, "two deliveries")
    first, second = receiver[0].events()
    assert first == second
    assert first.event_id == f"stk:{out.checkout_request_id}:0"


async def test_a_delayed_callback_comes_after_its_delay(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    sandbox.script("stk_callback", ("delay", 0.4))
    started = datetime.now(UTC).timestamp()
    out = await push(Mpesa(), context(good, http), push_in(75))
    await wait_until(lambda: receiver[0].deliveries, "the delayed callback")
    assert sandbox.callbacks.sent[0].at - started >= 0.4
    assert receiver[0].events()[0].reference == out.checkout_request_id


async def test_query_of_an_unknown_checkout_is_rejected(
    served: tuple[MpesaSandbox, str], good: Integration, http: HttpFactory
) -> None:
    with pytest.raises(Rejected) as caught:
        await query(Mpesa(), context(good, http), "ws_CO_000000000000000000")
    assert caught.value.provider_code == "400.002.02"
    assert "CheckoutRequestID" in caught.value.message


# --- tokens -------------------------------------------------------------------------------


async def test_one_token_serves_many_calls(
    served: tuple[MpesaSandbox, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    mpesa = Mpesa()
    ctx = context(good, http)
    first = await push(mpesa, ctx, push_in(10))
    await query(mpesa, ctx, first.checkout_request_id)
    await mpesa.call("c2b_register_urls", ctx, {})
    await query(mpesa, ctx, first.checkout_request_id)
    assert token_calls(sandbox) == 1


async def test_the_token_is_refreshed_a_minute_before_it_expires(
    served: tuple[MpesaSandbox, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    sandbox.expires_in_as_string = False  # Daraja sends either; both are read
    clock = [datetime.now(UTC)]
    mpesa = Mpesa()
    ctx = context(good, http, now=lambda: clock[0])
    await mpesa.call("c2b_register_urls", ctx, {})
    clock[0] += timedelta(seconds=3599 - 61)
    await mpesa.call("c2b_register_urls", ctx, {})
    assert token_calls(sandbox) == 1
    clock[0] += timedelta(seconds=2)
    await mpesa.call("c2b_register_urls", ctx, {})
    assert token_calls(sandbox) == 2


async def test_an_invalidated_token_is_replaced_once_and_the_call_retried(
    served: tuple[MpesaSandbox, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, url = served
    mpesa = Mpesa()
    ctx = context(good, http)
    await push(mpesa, ctx, push_in(10))
    sandbox.expire_tokens()
    second = await push(mpesa, ctx, push_in(20, phone="+254712345678"))
    assert token_calls(sandbox) == 2
    # another client of the same app gets a token: Daraja invalidates ours
    async with httpx.AsyncClient() as other:
        answer = await other.get(
            f"{url}/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET),
        )
    assert answer.status_code == 200
    await wait_until(lambda: sandbox.stk[second.checkout_request_id].result_code is not None, "the answer")
    assert (await query(mpesa, ctx, second.checkout_request_id)).status == "succeeded"
    assert token_calls(sandbox) == 4
    pushes = [path for _, path, _ in sandbox.calls if path.endswith("/processrequest")]
    assert len(pushes) == 3  # the refused one, its retry, and the first


async def test_a_refused_token_twice_is_auth_failed(
    served: tuple[MpesaSandbox, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    sandbox.script("access_token", "invalid", "invalid")
    with pytest.raises(AuthFailed) as caught:
        await push(Mpesa(), context(good, http), push_in(10))
    assert caught.value.provider_code == "404.001.03"
    assert token_calls(sandbox) == 2


async def test_a_wrong_passkey_is_wrong_credentials(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], http: HttpFactory
) -> None:
    bad = integration_for(served[1], receiver[1], passkey="0" * 64)
    with pytest.raises(AuthFailed) as caught:
        await push(Mpesa(), context(bad, http), push_in(10))
    assert caught.value.provider_code == "500.001.1001"
    assert "Wrong credentials" in caught.value.message


# --- refusals before anything is sent -----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"amount_minor": 150050}, "whole shillings"),
        ({"currency": "NGN"}, "KES only"),
        ({"phone": "+2348031234567"}, "Kenyan mobile"),
        ({"phone": "0712"}, "not a valid phone"),
        ({"account_reference": "INV-2026-00042"}, "account_reference"),
        ({"description": "Payment for the April invoice"}, "description"),
    ],
)
async def test_inputs_daraja_cannot_take_are_refused_before_any_call(
    served: tuple[MpesaSandbox, str],
    good: Integration,
    http: HttpFactory,
    given: dict[str, object],
    field: str,
) -> None:
    data = {"amount_minor": 10000, "phone": PHONE, "account_reference": "INV-1", **given}
    with pytest.raises(Rejected, match=field):
        await Mpesa().call("stk_push", context(good, http), data)
    assert not any(path.endswith("/processrequest") for _, path, _ in served[0].calls)


async def test_amounts_outside_darajas_bounds_are_rejected_by_daraja(
    served: tuple[MpesaSandbox, str], good: Integration, http: HttpFactory
) -> None:
    with pytest.raises(Rejected) as caught:
        await push(Mpesa(), context(good, http), push_in(250_001))
    assert caught.value.provider_code == "400.002.02"
    assert "Invalid Amount" in caught.value.message


async def test_missing_settings_are_configuration_errors(
    served: tuple[MpesaSandbox, str], http: HttpFactory
) -> None:
    no_hook = integration_for(served[1], None)
    with pytest.raises(AuthFailed, match="webhook URL"):
        await push(Mpesa(), context(no_hook, http), push_in(10))
    no_passkey = integration_for(served[1], "http://127.0.0.1:9/hooks/x", passkey=None)
    with pytest.raises(AuthFailed, match="passkey"):
        await push(Mpesa(), context(no_passkey, http), push_in(10))


async def test_a_still_processing_result_is_pending_too(
    served: tuple[MpesaSandbox, str], good: Integration, http: HttpFactory
) -> None:
    sandbox, _ = served
    sandbox.pending_as_result = True  # Daraja's other way of saying "not yet"
    sandbox.script("stk_callback", "hold")
    mpesa = Mpesa()
    ctx = context(good, http)
    out = await push(mpesa, ctx, push_in(90))
    assert (await query(mpesa, ctx, out.checkout_request_id)).status == "pending"
    sandbox.release(out.checkout_request_id)
    assert (await query(mpesa, ctx, out.checkout_request_id)).status == "succeeded"


async def test_a_till_is_paid_by_buy_goods(
    served: tuple[MpesaSandbox, str], receiver: tuple[Receiver, str], http: HttpFactory
) -> None:
    sandbox, url = served
    till = integration_for(url, receiver[1], transaction_type="till", till_number="600000")
    out = await push(Mpesa(), context(till, http), push_in(120))
    sent = next(body for _, path, body in sandbox.calls if path.endswith("/processrequest"))
    assert (sent["TransactionType"], sent["PartyB"]) == ("CustomerBuyGoodsOnline", "600000")
    await wait_until(lambda: receiver[0].deliveries, "the STK callback")
    assert receiver[0].events()[0].reference == out.checkout_request_id
    no_till = integration_for(url, receiver[1], transaction_type="till")
    with pytest.raises(AuthFailed, match="till number"):
        await push(Mpesa(), context(no_till, http), push_in(120))
