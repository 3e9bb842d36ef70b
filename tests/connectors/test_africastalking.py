"""Africa's Talking: conformance, send SMS and its status codes, delivery reports, inbound SMS,
calls and balance, malformed callbacks, and no credential in logs, outputs or errors — all over
real HTTP against the sandbox on loopback."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors import (
    ActionContext,
    AuthFailed,
    HttpFactory,
    InboundRequest,
    Integration,
    InvalidResponse,
    Rejected,
    Retry,
    Unavailable,
    WebhookEvent,
)
from smeflow.connectors.africastalking import (
    AfricasTalking,
    AfricasTalkingConfig,
    AfricasTalkingCredentials,
    AfricasTalkingSandbox,
    Cost,
    SendSmsOut,
    parse_cost,
)
from smeflow.connectors.sandbox import Sandbox, serving
from smeflow.connectors.testing import ConnectorConformance
from smeflow.core.money import to_major

API_KEY = "atsk_live_KEYVALUE_0123456789abcdef"


def make_integration(base_url: str, *, key: str = API_KEY, **config: Any) -> Integration:
    settings = {"username": "sandbox", "base_url": base_url, "voice_number": "+254711082000", **config}
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="africastalking",
        config=AfricasTalkingConfig(**settings),
        credentials=AfricasTalkingCredentials(api_key=SecretStr(key)),
    )


class Receiver(Sandbox):
    """The ingress, as small as it gets: parses deliveries with the connector and answers."""

    key = "receiver"
    title = "callback receiver"

    def __init__(self, integration: Callable[[], Integration]) -> None:
        super().__init__()
        self.integration = integration
        self.events: list[WebhookEvent] = []
        self.refused = 0

    def routes(self) -> list[BaseRoute]:
        return [Route("/hook", self.hook, methods=["POST"])]

    async def hook(self, request: Request) -> Response:
        inbound = InboundRequest(
            "POST", await request.body(), {k.lower(): v for k, v in request.headers.items()}
        )
        connector, integration = AfricasTalking(), self.integration()
        try:
            events = connector.parse_webhook(integration, inbound)
        except InvalidResponse:
            self.refused += 1
            return Response(b"", 400)
        self.events.extend(events)
        reply = connector.webhook_reply(integration, inbound, events)
        return Response(reply.body, reply.status, media_type=reply.media_type)


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
def sandbox() -> AfricasTalkingSandbox:
    return AfricasTalkingSandbox(api_key=API_KEY, delay_seconds=0.2)


@pytest.fixture
def at_url(sandbox: AfricasTalkingSandbox) -> Iterator[str]:
    with serving(sandbox) as url:
        yield url


@pytest.fixture
def receiver(sandbox: AfricasTalkingSandbox, at_url: str) -> Iterator[Receiver]:
    integration = make_integration(at_url)
    receiver = Receiver(lambda: integration)
    with serving(receiver) as url:
        sandbox.urls.update(delivery_report=f"{url}/hook", inbound_sms=f"{url}/hook", voice=f"{url}/hook")
        yield receiver


@pytest.fixture
async def factory() -> AsyncIterator[HttpFactory]:
    made = HttpFactory()
    yield made
    await made.aclose()


async def call(factory: HttpFactory, integration: Integration, name: str, data: dict[str, Any]) -> Any:
    connector = AfricasTalking()
    return await connector.call(
        name, ActionContext(integration, factory.for_integration(connector, integration)), data
    )


class TestAfricasTalkingConformance(ConnectorConformance):
    connector_class = AfricasTalking

    @pytest.fixture
    def integration(self, at_url: str) -> Integration:
        return make_integration(at_url)

    @pytest.fixture
    def bad_integration(self, at_url: str) -> Integration:
        return make_integration(at_url, key="atsk_live_WRONGKEY_000000000000")

    @pytest.fixture
    def webhook_delivery(self) -> InboundRequest:
        body = b"id=ATXid_1&status=Success&phoneNumber=%2B254712345678&networkCode=63902&retryCount=0"
        return InboundRequest("POST", body, {"content-type": "application/x-www-form-urlencoded"})


async def test_send_sms_reports_each_recipient(
    factory: HttpFactory, at_url: str, sandbox: AfricasTalkingSandbox
) -> None:
    integration = make_integration(at_url, sender_id="SMEFlow")
    out = await call(
        factory, integration, "send_sms", {"to": ["+254712345678", "+254700000102"], "message": "Karibu!"}
    )
    assert isinstance(out, SendSmsOut)
    assert (out.accepted, out.failed) == (2, 0)
    assert out.summary.startswith("Sent to 2/2 Total Cost: KES 1.6000")
    first, second = out.recipients
    assert (first.number, first.status_code, first.meaning, first.status) == (
        "+254712345678",
        101,
        "Sent",
        "Success",
    )
    assert (second.status_code, second.meaning) == (102, "Queued")
    assert first.cost == Cost(amount_minor=80, currency="KES")
    assert first.cost_text == "KES 0.8000"
    assert first.provider_message_id in sandbox.messages
    (_, _path, form), *_ = [c for c in sandbox.calls if c[1] == "/version1/messaging"]
    assert form == {
        "username": "sandbox",
        "to": "+254712345678,+254700000102",
        "message": "Karibu!",
        "from": "SMEFlow",
        "bulkSMSMode": "1",
    }


async def test_some_recipients_failing_is_an_output_not_an_error(factory: HttpFactory, at_url: str) -> None:
    out = await call(
        factory,
        make_integration(at_url),
        "send_sms",
        {"to": ["+254712345678", "+254700000406"], "message": "Hi"},
    )
    assert (out.accepted, out.failed) == (1, 1)
    blocked = out.recipients[1]
    assert (blocked.accepted, blocked.status_code, blocked.meaning) == (False, 406, "UserInBlacklist")
    assert blocked.provider_message_id is None
    assert blocked.cost is None


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (401, Rejected),
        (402, Rejected),
        (403, Rejected),
        (404, Rejected),
        (405, Rejected),
        (406, Rejected),
        (407, Rejected),
        (409, Rejected),
        (500, Unavailable),
        (501, Unavailable),
        (502, Rejected),
    ],
)
async def test_every_recipient_failing_is_the_typed_error_with_the_code(
    factory: HttpFactory, at_url: str, code: int, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        await call(
            factory, make_integration(at_url), "send_sms", {"to": [f"+254700000{code}"], "message": "Hi"}
        )
    assert caught.value.provider_code == str(code)  # type: ignore[attr-defined]
    assert "Africa's Talking sent to no recipient" in str(caught.value)


async def test_scripted_statuses_and_an_invalid_sender(
    factory: HttpFactory, at_url: str, sandbox: AfricasTalkingSandbox
) -> None:
    sandbox.script("sms_status", 405)
    with pytest.raises(Rejected, match="balance is too low") as caught:
        await call(factory, make_integration(at_url), "send_sms", {"to": ["+254712345678"], "message": "Hi"})
    assert caught.value.provider_code == "405"
    with pytest.raises(Rejected, match="sender id is not registered") as caught:
        await call(
            factory,
            make_integration(at_url),
            "send_sms",
            {"to": ["+254712345678"], "message": "Hi", "sender_id": "INVALID"},
        )
    assert caught.value.provider_code == "402"


async def test_bad_input_is_refused_before_anything_is_sent(
    factory: HttpFactory, at_url: str, sandbox: AfricasTalkingSandbox
) -> None:
    for bad in (
        {"to": ["0712345678"], "message": "Hi"},
        {"to": [], "message": "Hi"},
        {"to": ["+254712345678"]},
    ):
        with pytest.raises(Rejected):
            await call(factory, make_integration(at_url), "send_sms", bad)
    assert sandbox.calls == []


async def test_refused_credentials_and_username_are_auth_failed(factory: HttpFactory, at_url: str) -> None:
    for integration in (
        make_integration(at_url, key="atsk_live_WRONGKEY_000000000000"),
        make_integration(at_url, username="someone-else"),
        make_integration(at_url, username=None),
    ):
        with pytest.raises(AuthFailed):
            await call(factory, integration, "send_sms", {"to": ["+254712345678"], "message": "Hi"})
        with pytest.raises(AuthFailed):
            await call(factory, integration, "get_balance", {})


async def test_provider_outages_and_unreadable_answers(
    factory: HttpFactory, at_url: str, sandbox: AfricasTalkingSandbox
) -> None:
    sms = {"to": ["+254712345678"], "message": "Hi"}
    sandbox.script("http", 503, 400, "garbage")
    with pytest.raises(Unavailable) as unavailable:
        await call(factory, make_integration(at_url), "send_sms", sms)
    assert unavailable.value.provider_code == "503"
    with pytest.raises(Rejected, match="answered 400"):
        await call(factory, make_integration(at_url), "send_sms", sms)
    with pytest.raises(InvalidResponse, match="not JSON"):
        await call(factory, make_integration(at_url), "send_sms", sms)
    assert len([c for c in sandbox.calls if c[1] == "/version1/messaging"]) == 3  # a send is never repeated
    sandbox.script("http", 503, 503, 503)
    with pytest.raises(Unavailable):
        await call(factory, make_integration(at_url), "get_balance", {})
    assert len([c for c in sandbox.calls if c[1] == "/version1/user"]) == 3  # a read is retried


async def test_a_timeout_is_unavailable_and_a_send_is_not_retried() -> None:
    attempts: list[str] = []

    def slow(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    made = HttpFactory(
        httpx.AsyncClient(transport=httpx.MockTransport(slow)), retry=Retry(base_seconds=0.001)
    )
    with pytest.raises(Unavailable):
        await call(
            made,
            make_integration("https://at.invalid"),
            "send_sms",
            {"to": ["+254712345678"], "message": "Hi"},
        )
    assert attempts == ["POST"]


async def test_balance_and_calls(factory: HttpFactory, at_url: str, sandbox: AfricasTalkingSandbox) -> None:
    balance = await call(factory, make_integration(at_url), "get_balance", {})
    assert balance.balance == Cost(amount_minor=100000, currency="KES")
    out = await call(factory, make_integration(at_url), "make_call", {"to": ["+254712345678"]})
    (entry,) = out.entries
    assert (entry.phone, entry.status, entry.accepted) == ("+254712345678", "Queued", True)
    assert entry.session_id in sandbox.voice_calls
    assert [c[2] for c in sandbox.calls if c[1] == "/call"] == [
        {"username": "sandbox", "from": "+254711082000", "to": "+254712345678"}
    ]
    with pytest.raises(Rejected, match="voice number"):
        await call(
            factory, make_integration(at_url, voice_number=None), "make_call", {"to": ["+254712345678"]}
        )


def test_the_voice_host_follows_the_base_url() -> None:
    url = AfricasTalking.voice_url
    assert url(AfricasTalkingConfig(), "/call") == "https://voice.africastalking.com/call"
    sandbox = AfricasTalkingConfig(base_url="https://api.sandbox.africastalking.com")
    assert url(sandbox, "/call") == "https://voice.sandbox.africastalking.com/call"
    assert url(AfricasTalkingConfig(base_url="http://127.0.0.1:9"), "/call") == "http://127.0.0.1:9/call"
    own = AfricasTalkingConfig(base_url="http://127.0.0.1:9", voice_base_url="http://127.0.0.1:8/")
    assert url(own, "/call") == "http://127.0.0.1:8/call"


async def test_delivery_reports_become_message_status_events(
    factory: HttpFactory, at_url: str, sandbox: AfricasTalkingSandbox, receiver: Receiver
) -> None:
    numbers = ["+254712345678", "+254700009004", "+254700009005", "+254700009006"]
    out = await call(factory, make_integration(at_url), "send_sms", {"to": numbers, "message": "Hi"})
    ids = [r.provider_message_id for r in out.recipients]
    await wait_for(lambda: len(receiver.events) == 5, "five delivery reports")
    by_id: dict[str, list[WebhookEvent]] = {}
    for event in receiver.events:
        assert event.kind == "message.status"
        by_id.setdefault(str(event.reference), []).append(event)
    (ok,) = by_id[str(ids[0])]
    assert ok.event_id == f"{ids[0]}:Success"
    assert ok.data == {
        "channel": "sms",
        "status": "delivered",
        "provider_status": "Success",
        "provider_message_id": ids[0],
        "to": "+254712345678",
        "network_code": "99999",
        "retry_count": 0,
    }
    (failed,) = by_id[str(ids[1])]
    assert (failed.data["status"], failed.data["error_code"]) == ("failed", "DeliveryFailure")
    (rejected,) = by_id[str(ids[2])]
    assert (rejected.data["status"], rejected.data["error_code"]) == ("failed", "UserInBlackList")
    assert sorted(str(e.data["status"]) for e in by_id[str(ids[3])]) == ["delivered", "sent"]
    await wait_for(lambda: sandbox.callbacks.pending == 0, "the callbacks' answers")
    assert all(c.status == 200 for c in sandbox.callbacks.sent)


async def test_delivery_reports_dropped_twice_and_delayed(
    factory: HttpFactory, at_url: str, sandbox: AfricasTalkingSandbox, receiver: Receiver
) -> None:
    numbers = ["+254700009001", "+254700009002", "+254700009003"]
    sandbox.delay_seconds = 0.5
    before = time.time()
    out = await call(factory, make_integration(at_url), "send_sms", {"to": numbers, "message": "Hi"})
    dropped, twice, delayed = (r.provider_message_id for r in out.recipients)
    await wait_for(lambda: len(receiver.events) == 3, "the repeated and the delayed reports")
    references = [e.reference for e in receiver.events]
    assert references.count(twice) == 2
    assert references.count(delayed) == 1
    assert dropped not in references
    first, second = (e for e in receiver.events if e.reference == twice)
    assert first.event_id == second.event_id  # a repeat dedupes on the event id
    (late,) = [c for c in sandbox.callbacks.sent if str(delayed).encode() in c.body]
    assert late.at - before >= 0.45  # posted no sooner than the delay (asyncio never wakes early)
    await wait_for(lambda: sandbox.callbacks.pending == 0, "the callbacks' answers")
    sandbox.script("delivery", "drop")
    await call(factory, make_integration(at_url), "send_sms", {"to": ["+254712345678"], "message": "Hi"})
    assert sandbox.callbacks.pending == 0
    assert len(sandbox.callbacks.sent) == 3


async def test_inbound_sms_becomes_message_received(
    at_url: str, sandbox: AfricasTalkingSandbox, receiver: Receiver
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{at_url}/sandbox/sms/inbound", json={"from": "+254712345678", "text": "BOOK 2pm", "to": "22384"}
        )
    message_id = answer.json()["id"]
    await wait_for(lambda: len(receiver.events) == 1, "the inbound message")
    (event,) = receiver.events
    assert (event.kind, event.event_id) == ("message.received", message_id)
    assert event.data["channel"] == "sms"
    assert (event.data["from"], event.data["to"], event.data["text"]) == (
        "+254712345678",
        "22384",
        "BOOK 2pm",
    )
    await wait_for(lambda: sandbox.callbacks.pending == 0, "the callback's answer")
    (sent,) = sandbox.callbacks.sent
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.status == 200


async def test_polling_the_inbox_finds_a_message_whose_callback_was_lost(
    factory: HttpFactory, at_url: str, sandbox: AfricasTalkingSandbox, receiver: Receiver
) -> None:
    connector, integration = AfricasTalking(), make_integration(at_url)
    ctx = ActionContext(integration, factory.for_integration(connector, integration))
    (trigger,) = AfricasTalking.polling_triggers()
    assert trigger.name == "africastalking.inbound_sms"
    sandbox.script("callback", "drop")
    async with httpx.AsyncClient(base_url=at_url) as client:
        lost = (
            await client.post("/sandbox/sms/inbound", json={"from": "+254712345678", "text": "lost"})
        ).json()
        kept = (
            await client.post("/sandbox/sms/inbound", json={"from": "+254712345679", "text": "kept"})
        ).json()
    await wait_for(lambda: len(receiver.events) == 1, "the callback that was not dropped")
    found = await trigger.func(connector, ctx, None)
    assert [e.event_id for e in found.events] == [lost["id"], kept["id"]]
    polled, called = found.events[1], receiver.events[0]
    assert polled.event_id == called.event_id  # the same event both ways: deduplicated on its id
    assert {k: polled.data[k] for k in ("channel", "from", "to", "text")} == {
        k: called.data[k] for k in ("channel", "from", "to", "text")
    }
    assert (found.events[0].kind, found.events[0].data["text"]) == ("message.received", "lost")
    assert found.cursor == kept["id"]
    again = await trigger.func(connector, ctx, found.cursor)
    assert (again.events, again.cursor) == ([], kept["id"])


@pytest.mark.parametrize(
    "body",
    [
        b"\x00not a delivery",
        b"%%%",
        b"senderId=SMEFlow&phoneNumber=%2B254712345678",  # a bulk opt-out: not read
        b"id=ATXid_1&status=Exploded&phoneNumber=%2B254712345678",
        b"id=&status=Success",
        b"id=1&from=not-a-phone&text=hi&to=22384",
        b"sessionId=S1&serviceCode=%2A384%23&phoneNumber=%2B254712345678",  # neither a request nor an end
        b"sessionId=S1&serviceCode=%2A384%23&text=1",  # no phoneNumber
        b"sessionId=S1&isActive=2&direction=Inbound&callerNumber=%2B254712345678",
        b"sessionId=S1&isActive=1&direction=Sideways&callerNumber=%2B254712345678",
    ],
)
def test_malformed_callbacks_are_invalid_responses(body: bytes) -> None:
    integration = make_integration("http://127.0.0.1:9")
    with pytest.raises(InvalidResponse) as caught:
        AfricasTalking().parse_webhook(integration, InboundRequest("POST", body))
    assert "254712345678" not in str(caught.value)


def test_the_default_reply_to_sms_callbacks_is_plain_ok() -> None:
    integration = make_integration("http://127.0.0.1:9")
    delivery = InboundRequest("POST", b"id=ATXid_1&status=Sent&phoneNumber=%2B254712345678")
    connector = AfricasTalking()
    reply = connector.webhook_reply(integration, delivery, connector.parse_webhook(integration, delivery))
    assert (reply.status, reply.media_type, reply.body) == (200, "text/plain", b"OK")


@given(
    minor=st.integers(min_value=0, max_value=10**9), currency=st.sampled_from(["KES", "NGN", "UGX", "USD"])
)
def test_costs_read_exactly(minor: int, currency: str) -> None:
    assert parse_cost(f"{currency} {to_major(minor, currency):.4f}") == Cost(
        amount_minor=minor, currency=currency
    )


def test_costs_that_are_not_exact_money_are_kept_as_text_only() -> None:
    assert parse_cost("USD 0.0079") is None
    assert parse_cost("0") is None
    assert parse_cost(None) is None
    assert parse_cost("XYZ 1.00") is None


async def test_no_credential_in_logs_outputs_or_errors(
    factory: HttpFactory, at_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    good = make_integration(at_url)
    shown: list[str] = [repr(good), repr(good.credentials), str(good.config)]
    out = await call(factory, good, "send_sms", {"to": ["+254712345678"], "message": "Hi"})
    shown.append(orjson.dumps(out.model_dump()).decode())
    shown.append(
        orjson.dumps(
            (await call(factory, good, "make_call", {"to": ["+254712345678"]})).model_dump()
        ).decode()
    )
    for integration, data in (
        (make_integration(at_url, key=API_KEY + "x"), {"to": ["+254712345678"], "message": "Hi"}),
        (good, {"to": ["+254700000405"], "message": "Hi"}),
    ):
        with pytest.raises((AuthFailed, Rejected)) as caught:
            await call(factory, integration, "send_sms", data)
        shown.append(f"{caught.value} {caught.value.extra} {caught.value.provider_code}")
    assert caplog.records
    for text in [*shown, caplog.text]:
        assert API_KEY not in text
