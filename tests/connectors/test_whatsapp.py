"""The WhatsApp connector against its sandbox over real HTTP: conformance, sends, the 24-hour
window, Graph errors, and no credential anywhere it could leak."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    ConnectorError,
    HttpFactory,
    InboundRequest,
    Integration,
    RateLimited,
    Rejected,
    Retry,
    Unavailable,
)
from smeflow.connectors.sandbox import serving
from smeflow.connectors.testing import ConnectorConformance
from smeflow.connectors.whatsapp import WINDOW, WhatsApp, WhatsAppSandbox, amount_1000, sign, window_open

from .test_whatsapp_support import (
    ACCESS_TOKEN,
    VECTOR_BODY,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VERIFY_TOKEN,
    wa_integration,
)

CUSTOMER = "+254712345678"


@pytest.fixture
def sandbox() -> WhatsAppSandbox:
    return WhatsAppSandbox(access_token=ACCESS_TOKEN, app_secret=VECTOR_SECRET, verify_token=VERIFY_TOKEN)


@pytest.fixture
def wa_url(sandbox: WhatsAppSandbox) -> Iterator[str]:
    with serving(sandbox) as url:
        yield url


@pytest.fixture
async def factory() -> object:
    made = HttpFactory(retry=Retry(attempts=3, base_seconds=0.001))
    yield made
    await made.aclose()


def ctx_for(
    factory: HttpFactory, integration: Integration, key: str | None = "run-1:step-a"
) -> ActionContext:
    return ActionContext(integration, factory.for_integration(WhatsApp(), integration), idempotency_key=key)


class TestWhatsAppConformance(ConnectorConformance):
    connector_class = WhatsApp

    @pytest.fixture
    def integration(self, wa_url: str) -> Integration:
        return wa_integration(wa_url)

    @pytest.fixture
    def bad_integration(self, wa_url: str) -> Integration:
        return wa_integration(wa_url, access_token="EAAGrevoked-token-000")

    @pytest.fixture
    def webhook_delivery(self) -> InboundRequest:
        return InboundRequest(
            "POST",
            VECTOR_BODY,
            headers={"x-hub-signature-256": VECTOR_SIGNATURE, "content-type": "application/json"},
        )


def test_the_signature_matches_the_recorded_meta_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE


async def test_check_reads_the_phone_number_and_a_bad_token_is_auth_failed_190(
    wa_url: str, factory: HttpFactory
) -> None:
    connector = WhatsApp()
    out = await connector.call("phone_number", ctx_for(factory, wa_integration(wa_url), None), {})
    assert out.model_dump()["display_phone_number"] == "15550783881"
    with pytest.raises(AuthFailed) as caught:
        await connector.check(ctx_for(factory, wa_integration(wa_url, access_token="EAAGwrong"), None))
    assert caught.value.provider_code == "190"
    with pytest.raises(AuthFailed, match="phone number id"):
        await connector.check(ctx_for(factory, wa_integration(wa_url, phone_number_id=None), None))


async def test_text_inside_the_window_is_sent_with_the_idempotency_key(
    sandbox: WhatsAppSandbox, wa_url: str, factory: HttpFactory
) -> None:
    sandbox.simulate_inbound(CUSTOMER, "Habari, nataka kupanga miadi")
    out = await WhatsApp().call(
        "send_text", ctx_for(factory, wa_integration(wa_url)), {"to": CUSTOMER, "text": "Karibu! Saa ngapi?"}
    )
    assert out.model_dump()["message_id"].startswith("wamid.")
    assert out.model_dump()["wa_id"] == "254712345678"
    (sent,) = sandbox.messages
    assert sent["id"] == out.model_dump()["message_id"]
    assert sent["payload"]["to"] == "254712345678"
    assert sent["payload"]["text"] == {"body": "Karibu! Saa ngapi?", "preview_url": False}
    assert sent["payload"]["biz_opaque_callback_data"] == "run-1:step-a"


async def test_outside_the_window_free_form_is_131047_and_a_template_goes_through(
    sandbox: WhatsAppSandbox, wa_url: str, factory: HttpFactory
) -> None:
    connector = WhatsApp()
    ctx = ctx_for(factory, wa_integration(wa_url))
    with pytest.raises(Rejected) as caught:
        await connector.call("send_text", ctx, {"to": CUSTOMER, "text": "Are you still there?"})
    assert caught.value.provider_code == "131047"
    assert "template" in caught.value.message
    # a window that has aged past 24 hours is closed again
    sandbox.last_inbound["254712345678"] = datetime.now(UTC).timestamp() - WINDOW.total_seconds() - 1
    with pytest.raises(Rejected, match="template"):
        await connector.call(
            "send_interactive",
            ctx,
            {"to": CUSTOMER, "kind": "button", "body": "Pay?", "buttons": [{"id": "y", "title": "Yes"}]},
        )
    out = await connector.call(
        "send_template",
        ctx,
        {
            "to": CUSTOMER,
            "name": "order_update",
            "language": "en_US",
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": 0,
                    "parameters": [{"type": "payload", "payload": "PAY"}],
                },
            ],
        },
    )
    assert out.model_dump()["message_status"] == "accepted"
    (sent,) = sandbox.messages
    template = sent["payload"]["template"]
    assert template["name"] == "order_update"
    assert template["language"] == {"code": "en_US"}
    assert template["components"][1]["index"] == "0"


@pytest.mark.parametrize(
    ("currency", "minor", "amount_1000"), [("KES", 100000, 1000000), ("UGX", 5000, 5000000)]
)
async def test_template_currency_parameters_go_from_minor_units_to_amount_1000(
    sandbox: WhatsAppSandbox, wa_url: str, factory: HttpFactory, currency: str, minor: int, amount_1000: int
) -> None:
    money = {"amount_minor": minor, "code": currency, "fallback_value": f"{currency} total"}
    await WhatsApp().call(
        "send_template",
        ctx_for(factory, wa_integration(wa_url)),
        {
            "to": CUSTOMER,
            "name": "invoice_due",
            "components": [{"type": "body", "parameters": [{"type": "currency", "currency": money}]}],
        },
    )
    parameter = sandbox.messages[0]["payload"]["template"]["components"][0]["parameters"][0]
    assert parameter["currency"] == {
        "code": currency,
        "fallback_value": f"{currency} total",
        "amount_1000": amount_1000,
    }


async def test_unknown_templates_are_refused_with_132001(factory: HttpFactory) -> None:
    sandbox = WhatsAppSandbox(access_token=ACCESS_TOKEN, templates={"order_update"})
    with serving(sandbox) as url, pytest.raises(Rejected) as caught:
        await WhatsApp().call(
            "send_template", ctx_for(factory, wa_integration(url)), {"to": CUSTOMER, "name": "made_up"}
        )
    assert caught.value.provider_code == "132001"


async def test_interactive_buttons_and_lists(
    sandbox: WhatsAppSandbox, wa_url: str, factory: HttpFactory
) -> None:
    sandbox.simulate_inbound(CUSTOMER, "menu")
    connector = WhatsApp()
    ctx = ctx_for(factory, wa_integration(wa_url))
    buttons = [{"id": "pay-now", "title": "Pay now"}, {"id": "later", "title": "Later"}]
    await connector.call(
        "send_interactive",
        ctx,
        {"to": CUSTOMER, "kind": "button", "header": "Invoice", "body": "KES 1,000 due", "buttons": buttons},
    )
    rows = [{"id": f"slot-{i}", "title": f"{9 + i}:00", "description": "free"} for i in range(10)]
    await connector.call(
        "send_interactive",
        ctx,
        {
            "to": CUSTOMER,
            "kind": "list",
            "body": "Pick a time",
            "footer": "Amani Salon",
            "list_button": "Times",
            "sections": [{"title": "Morning", "rows": rows[:3]}, {"title": "Later", "rows": rows[3:]}],
        },
    )
    first, second = (m["payload"]["interactive"] for m in sandbox.messages)
    assert first["action"]["buttons"][0] == {"type": "reply", "reply": {"id": "pay-now", "title": "Pay now"}}
    assert first["header"] == {"type": "text", "text": "Invoice"}
    assert second["action"]["button"] == "Times"
    assert sum(len(s["rows"]) for s in second["action"]["sections"]) == 10


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"buttons": [{"id": str(i), "title": f"B{i}"} for i in range(4)]}, "1 to 3 buttons"),
        ({"buttons": [{"id": "a", "title": "x" * 21}]}, "title"),
        ({"buttons": [{"id": "a" * 257, "title": "ok"}]}, "id"),
        ({"buttons": [{"id": "a", "title": "one"}, {"id": "a", "title": "two"}]}, "own id"),
        (
            {
                "kind": "list",
                "buttons": [],
                "list_button": "Menu",
                "sections": [{"rows": [{"id": str(i), "title": "t"} for i in range(11)]}],
            },
            "1 to 10 rows",
        ),
        ({"to": "0712345678"}, "E.164"),
        ({"body": "x" * 4097}, "4096"),
    ],
)
async def test_documented_limits_are_checked_before_anything_is_sent(
    sandbox: WhatsAppSandbox, wa_url: str, factory: HttpFactory, change: dict[str, object], problem: str
) -> None:
    data = {
        "to": CUSTOMER,
        "kind": "button",
        "body": "Choose",
        "buttons": [{"id": "a", "title": "A"}],
        **change,
    }
    with pytest.raises(Rejected, match=problem):
        await WhatsApp().call("send_interactive", ctx_for(factory, wa_integration(wa_url)), data)
    assert sandbox.calls == []


@pytest.mark.parametrize(
    ("number", "error", "code"),
    [
        ("+254700131026", Rejected, "131026"),
        ("+254700130429", RateLimited, "130429"),
        ("+254700131056", RateLimited, "131056"),
        ("+254700500000", Unavailable, "131000"),
    ],
)
async def test_graph_errors_become_typed_errors_with_the_graph_code(
    sandbox: WhatsAppSandbox,
    wa_url: str,
    factory: HttpFactory,
    number: str,
    error: type[Exception],
    code: str,
) -> None:
    sandbox.simulate_inbound(number, "hi")
    with pytest.raises(error) as caught:
        await WhatsApp().call(
            "send_text", ctx_for(factory, wa_integration(wa_url)), {"to": number, "text": "hello"}
        )
    assert getattr(caught.value, "provider_code", None) == code
    # a send is never retried: the Cloud API has no idempotency key
    assert len([c for c in sandbox.calls if c[0] == "POST"]) == 1


async def test_a_revoked_token_on_send_is_auth_failed(wa_url: str, factory: HttpFactory) -> None:
    with pytest.raises(AuthFailed) as caught:
        await WhatsApp().call(
            "send_text",
            ctx_for(factory, wa_integration(wa_url, access_token="EAAGrevoked")),
            {"to": CUSTOMER, "text": "hi"},
        )
    assert caught.value.provider_code == "190"


async def test_no_credential_reaches_logs_outputs_or_errors(
    sandbox: WhatsAppSandbox, wa_url: str, factory: HttpFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    connector = WhatsApp()
    good = wa_integration(wa_url)
    bad = wa_integration(wa_url, access_token="EAAGbadTOKEN98765")
    sandbox.simulate_inbound(CUSTOMER, "hi")
    shown = [repr(good.credentials), repr(good)]
    out = await connector.call("send_text", ctx_for(factory, good), {"to": CUSTOMER, "text": "hello"})
    shown.append(out.model_dump_json())
    for integration, data in (
        (good, {"to": "+254700000001", "text": "closed window"}),
        (good, {"to": "+254700500000", "text": "server error"}),
        (bad, {"to": CUSTOMER, "text": "bad token"}),
    ):
        with pytest.raises(ConnectorError) as caught:
            await connector.call("send_text", ctx_for(factory, integration), data)
        shown.append(f"{caught.value!s} {caught.value!r} {getattr(caught.value, 'extra', '')}")
    assert caplog.records
    everything = caplog.text + " ".join(shown)
    for secret in (ACCESS_TOKEN, VECTOR_SECRET, VERIFY_TOKEN, "EAAGbadTOKEN98765"):
        assert secret not in everything


AWARE = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


@given(last=AWARE, gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
def test_the_window_is_open_for_less_than_24_hours_after_the_last_message(
    last: datetime, gap: timedelta
) -> None:
    assert window_open(last, last + gap) == (gap < timedelta(hours=24))


@given(now=AWARE)
def test_a_customer_who_never_wrote_has_no_window_and_naive_times_are_refused(now: datetime) -> None:
    assert window_open(None, now) is False
    with pytest.raises(ValueError, match="timezone"):
        window_open(now.replace(tzinfo=None), now)


@given(
    minor=st.integers(min_value=0, max_value=10**15),
    currency=st.sampled_from(["KES", "NGN", "ZAR", "UGX", "RWF"]),
)
def test_amount_1000_is_exact_for_every_exponent(minor: int, currency: str) -> None:
    digits = 0 if currency in ("UGX", "RWF") else 2
    assert amount_1000(minor, currency) == minor * 10 ** (3 - digits)


async def test_mark_read_answers_success(sandbox: WhatsAppSandbox, wa_url: str, factory: HttpFactory) -> None:
    wamid = sandbox.simulate_inbound(CUSTOMER, "hi")
    out = await WhatsApp().call("mark_read", ctx_for(factory, wa_integration(wa_url)), {"message_id": wamid})
    assert out.model_dump() == {"success": True}
    assert sandbox.calls[-1][2] == {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}


@given(
    secret=st.text(min_size=1, max_size=64),
    body=st.binary(min_size=1, max_size=2000),
    flip=st.integers(0, 1999),
)
def test_any_signed_body_verifies_and_any_changed_byte_does_not(secret: str, body: bytes, flip: int) -> None:
    integration = wa_integration("http://unused.invalid", app_secret=secret)
    signed = InboundRequest("POST", body, headers={"x-hub-signature-256": sign(secret, body)})
    WhatsApp().verify_webhook(integration, signed)
    changed = bytearray(body)
    changed[flip % len(body)] ^= 0x20
    with pytest.raises(AuthFailed):
        WhatsApp().verify_webhook(integration, dataclasses.replace(signed, body=bytes(changed)))
