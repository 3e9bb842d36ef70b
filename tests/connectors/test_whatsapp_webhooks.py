"""WhatsApp webhooks end to end: the sandbox signs and POSTs notifications to a local receiver
that runs the connector's handshake, signature check and parser."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from smeflow.connectors import ActionContext, HttpFactory, InboundRequest, InvalidResponse, Retry
from smeflow.connectors.sandbox import serving
from smeflow.connectors.whatsapp import WhatsApp, WhatsAppSandbox, sign

from .test_whatsapp_support import (
    ACCESS_TOKEN,
    VECTOR_SECRET,
    VERIFY_TOKEN,
    WebhookReceiver,
    eventually,
    wa_integration,
)

CUSTOMER = "+254712345678"


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver(wa_integration("http://unused.invalid"))


@pytest.fixture
def hook_url(receiver: WebhookReceiver) -> Iterator[str]:
    with serving(receiver) as url:
        yield f"{url}/hook"


@pytest.fixture
def sandbox(hook_url: str) -> WhatsAppSandbox:
    return WhatsAppSandbox(
        access_token=ACCESS_TOKEN, app_secret=VECTOR_SECRET, verify_token=VERIFY_TOKEN, webhook_url=hook_url
    )


@pytest.fixture
def wa_url(sandbox: WhatsAppSandbox) -> Iterator[str]:
    with serving(sandbox) as url:
        yield url


@pytest.fixture
async def factory() -> object:
    made = HttpFactory(retry=Retry(attempts=1))
    yield made
    await made.aclose()


async def send_text(factory: HttpFactory, wa_url: str, to: str = CUSTOMER, key: str = "run-7:reply") -> str:
    integration = wa_integration(wa_url)
    ctx = ActionContext(integration, factory.for_integration(WhatsApp(), integration), idempotency_key=key)
    out = await WhatsApp().call("send_text", ctx, {"to": to, "text": "Asante!"})
    return str(out.model_dump()["message_id"])


async def test_an_inbound_text_arrives_signed_and_parses_into_message_received(
    sandbox: WhatsAppSandbox, wa_url: str, receiver: WebhookReceiver
) -> None:
    wamid = sandbox.simulate_inbound(CUSTOMER, "Habari, bei gani?", name="Wanjiru")
    (event,) = await eventually(lambda: receiver.of_kind("message.received"))
    assert event.event_id == wamid
    assert event.data["channel"] == "whatsapp"
    assert event.data["from"] == CUSTOMER
    assert event.data["to"] == "+15550783881"
    assert event.data["text"] == "Habari, bei gani?"
    assert event.data["name"] == "Wanjiru"
    assert event.data["provider_message_id"] == wamid
    assert event.data["message_type"] == "text"
    assert event.data["phone_number_id"] == sandbox.phone_number_id
    assert str(event.data["timestamp"]).endswith("+00:00")
    assert receiver.refused == []
    assert sandbox.window_open("254712345678")


async def test_button_and_list_replies_location_and_media(
    sandbox: WhatsAppSandbox, wa_url: str, receiver: WebhookReceiver
) -> None:
    sandbox.simulate_inbound(
        CUSTOMER, "Pay now", kind="button_reply", reply_id="pay-now", context="wamid.OURS"
    )
    sandbox.simulate_inbound(CUSTOMER, "10:00", kind="list_reply", reply_id="slot-1")
    place = {"latitude": -1.2921, "longitude": 36.8219, "name": "Amani Salon", "address": "Moi Avenue"}
    sandbox.simulate_inbound(CUSTOMER, kind="location", extra=place)
    sandbox.simulate_inbound(
        CUSTOMER, "my ID", kind="document", extra={"mime_type": "application/pdf", "filename": "id.pdf"}
    )
    events = await eventually(lambda: len(receiver.events) == 4 and receiver.events)
    by_type = {(e.data["message_type"], e.data.get("reply_type")): e for e in events}
    button = by_type[("interactive", "button_reply")]
    assert (button.data["reply_id"], button.data["text"], button.reference) == (
        "pay-now",
        "Pay now",
        "wamid.OURS",
    )
    assert by_type[("interactive", "list_reply")].data["reply_id"] == "slot-1"
    location = by_type[("location", None)]
    assert location.data["location"] == place
    assert location.data["text"] == "Amani Salon"
    document = by_type[("document", None)]
    media = document.data["media"]
    assert isinstance(media, dict)
    assert (media["mime_type"], media["filename"], document.data["text"]) == (
        "application/pdf",
        "id.pdf",
        "my ID",
    )


async def test_a_sent_message_gets_sent_delivered_read_statuses(
    sandbox: WhatsAppSandbox, wa_url: str, receiver: WebhookReceiver, factory: HttpFactory
) -> None:
    sandbox.simulate_inbound(CUSTOMER, "hi")
    wamid = await send_text(factory, wa_url)
    statuses = await eventually(
        lambda: len(receiver.of_kind("message.status")) == 3 and receiver.of_kind("message.status")
    )
    assert {e.data["status"] for e in statuses} == {"sent", "delivered", "read"}
    for event in statuses:
        assert event.reference == wamid
        assert event.event_id == f"{wamid}:{event.data['status']}"
        assert event.data["to"] == CUSTOMER
        assert event.data["callback_data"] == "run-7:reply"
        assert event.data["channel"] == "whatsapp"


async def test_outside_the_window_in_async_mode_the_send_fails_later_with_131047(
    sandbox: WhatsAppSandbox, wa_url: str, receiver: WebhookReceiver, factory: HttpFactory
) -> None:
    sandbox.window_errors = "async"
    wamid = await send_text(factory, wa_url)
    (failed,) = await eventually(lambda: receiver.of_kind("message.status"))
    assert (failed.reference, failed.data["status"], failed.data["error_code"]) == (wamid, "failed", "131047")
    assert "24 hours" in str(failed.data["reason"])


async def test_an_undeliverable_number_fails_asynchronously_with_131026(
    sandbox: WhatsAppSandbox, wa_url: str, receiver: WebhookReceiver, factory: HttpFactory
) -> None:
    number = "+254700999026"
    sandbox.simulate_inbound(number, "hi")
    await send_text(factory, wa_url, to=number)
    failed = await eventually(
        lambda: [e for e in receiver.of_kind("message.status") if e.data["status"] == "failed"]
    )
    assert failed[0].data["error_code"] == "131026"


async def test_scripted_callbacks_are_dropped_repeated_or_delayed(
    sandbox: WhatsAppSandbox, wa_url: str, receiver: WebhookReceiver, factory: HttpFactory
) -> None:
    sandbox.script("callback", "twice")
    first = sandbox.simulate_inbound(CUSTOMER, "once, delivered twice")
    await eventually(lambda: len(receiver.events) == 2)
    assert [e.event_id for e in receiver.events] == [first, first]  # same event id: deduplicated downstream
    sandbox.script("callback", "drop")
    sandbox.simulate_inbound(CUSTOMER, "dropped")
    sandbox.script("callback", 1.5)
    delayed = sandbox.simulate_inbound(CUSTOMER, "late")
    sandbox.simulate_inbound(CUSTOMER, "on time")
    await eventually(lambda: len(receiver.events) == 4)
    texts = [e.data["text"] for e in receiver.events[2:]]
    assert texts == ["on time", "late"]  # the delayed one arrives after a later one
    assert receiver.events[3].event_id == delayed
    assert "dropped" not in [e.data.get("text") for e in receiver.events]
    assert len(sandbox.notifications) == 4


async def test_the_sandbox_statuses_can_be_scripted(
    sandbox: WhatsAppSandbox, wa_url: str, receiver: WebhookReceiver, factory: HttpFactory
) -> None:
    sandbox.simulate_inbound(CUSTOMER, "hi")
    sandbox.script("statuses", ("sent",))
    await send_text(factory, wa_url)
    sandbox.script("callback", "drop")  # the next message's "sent" status is lost…
    await send_text(factory, wa_url, key="run-7:second")
    await eventually(lambda: len(sandbox.notifications) == 1 + 1 + 3)
    await eventually(lambda: len(receiver.of_kind("message.status")) == 1 + 2)
    assert sorted(e.data["status"] for e in receiver.of_kind("message.status")) == [
        "delivered",
        "read",
        "sent",
    ]


async def test_the_get_handshake_answers_the_challenge_only_with_the_verify_token(
    sandbox: WhatsAppSandbox, wa_url: str, hook_url: str
) -> None:
    assert sandbox.verify_webhook_url() is True
    sandbox.verify_token = "not-the-tenants-token"
    assert sandbox.verify_webhook_url() is False
    async with httpx.AsyncClient() as client:
        ok = await client.get(
            hook_url,
            params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
        )
        assert (ok.status_code, ok.text, ok.headers["content-type"].split(";")[0]) == (
            200,
            "1158201444",
            "text/plain",
        )
        for params in (
            {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
            {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
            {"hub.mode": "subscribe", "hub.challenge": "1"},
        ):
            refused = await client.get(hook_url, params=params)
            assert (refused.status_code, refused.text) == (403, "Forbidden")
        # the sandbox's control route: verify, then use, a webhook URL
        answer = await client.post(f"{wa_url}/_sandbox/webhook", json={"url": hook_url})
        assert answer.json() == {"verified": False}
        sandbox.verify_token = VERIFY_TOKEN
        answer = await client.post(f"{wa_url}/_sandbox/webhook", json={"url": hook_url})
        assert answer.json() == {"verified": True}
        inbound = await client.post(f"{wa_url}/_sandbox/inbound", json={"from": CUSTOMER, "text": "via HTTP"})
    (event,) = await eventually(lambda: receiver_events(sandbox))
    assert event["id"] == inbound.json()["id"]


def receiver_events(sandbox: WhatsAppSandbox) -> list[dict[str, object]]:
    return [
        m for n in sandbox.notifications for m in n["entry"][0]["changes"][0]["value"].get("messages", [])
    ]


async def test_forged_or_unsigned_notifications_are_refused(
    sandbox: WhatsAppSandbox, wa_url: str, receiver: WebhookReceiver, hook_url: str
) -> None:
    sandbox.simulate_inbound(CUSTOMER, "genuine")
    await eventually(lambda: receiver.events)
    genuine = sandbox.callbacks.sent[0].body
    forged = genuine.replace(b"genuine", b"forged!")
    async with httpx.AsyncClient() as client:
        for body, headers in (
            (forged, {"X-Hub-Signature-256": sign(VECTOR_SECRET, genuine)}),
            (forged, {"X-Hub-Signature-256": sign("an-attackers-guess", forged)}),
            (forged, {}),
        ):
            answer = await client.post(
                hook_url, content=body, headers={"Content-Type": "application/json", **headers}
            )
            assert answer.status_code == 401
    assert len(receiver.refused) == 3
    assert [e.data["text"] for e in receiver.events] == ["genuine"]


BAD_STATUS = orjson.dumps(
    {
        "object": "whatsapp_business_account",
        "entry": [
            {"changes": [{"field": "messages", "value": {"statuses": [{"id": "w", "status": "exploded"}]}}]}
        ],
    }
)
OTHER_FIELD = orjson.dumps(
    {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "account_update", "value": {}}]}],
    }
)


@pytest.mark.parametrize("body", [b"[]", b'{"object": "page", "entry": []}', BAD_STATUS])
def test_malformed_notifications_are_invalid_responses(body: bytes) -> None:
    integration = wa_integration("http://unused.invalid")
    with pytest.raises(InvalidResponse):
        WhatsApp().parse_webhook(integration, InboundRequest("POST", body))


def test_other_fields_carry_no_events() -> None:
    integration = wa_integration("http://unused.invalid")
    assert WhatsApp().parse_webhook(integration, InboundRequest("POST", OTHER_FIELD)) == []
