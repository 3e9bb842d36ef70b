"""Africa's Talking USSD and voice: the CON/END reply API, a whole USSD session played through the
sandbox against a tiny receiver, the voice XML builder verb by verb, and a voice call round trip."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from xml.etree import ElementTree

import httpx
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
    WebhookEvent,
    WebhookReply,
)
from smeflow.connectors.africastalking import (
    MAX_TEXT_CHARS,
    AfricasTalking,
    AfricasTalkingConfig,
    AfricasTalkingCredentials,
    AfricasTalkingSandbox,
    MakeCallOut,
    UssdTextError,
    VoiceResponse,
    VoiceXmlError,
    ussd_inputs,
    ussd_reply,
)
from smeflow.connectors.sandbox import Sandbox, serving

API_KEY = "atsk_live_KEYVALUE_0123456789abcdef"
DECL = '<?xml version="1.0" encoding="UTF-8"?>'
Answer = Callable[[WebhookEvent], WebhookReply | None]


def make_integration(base_url: str) -> Integration:
    return Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="africastalking",
        config=AfricasTalkingConfig(username="sandbox", base_url=base_url, voice_number="+254711082000"),
        credentials=AfricasTalkingCredentials(api_key=SecretStr(API_KEY)),
    )


class Receiver(Sandbox):
    """A tiny app behind the ingress: the connector parses, ``answer`` (a conversation) replies,
    else the connector's default reply."""

    key = "receiver"
    title = "USSD and voice receiver"

    def __init__(self, answer: Answer | None = None) -> None:
        super().__init__()
        self.answer = answer
        self.events: list[WebhookEvent] = []
        self.integration = make_integration("http://127.0.0.1:9")

    def routes(self) -> list[BaseRoute]:
        return [Route("/hook", self.hook, methods=["POST"])]

    async def hook(self, request: Request) -> Response:
        inbound = InboundRequest(
            "POST", await request.body(), {k.lower(): v for k, v in request.headers.items()}
        )
        connector = AfricasTalking()
        try:
            (event,) = connector.parse_webhook(self.integration, inbound)
        except InvalidResponse:
            return Response(b"", 400)
        self.events.append(event)
        reply = (self.answer and self.answer(event)) or connector.webhook_reply(
            self.integration, inbound, [event]
        )
        return Response(reply.body, reply.status, media_type=reply.media_type)


@pytest.fixture
def sandbox() -> AfricasTalkingSandbox:
    return AfricasTalkingSandbox(api_key=API_KEY)


@pytest.fixture
def at_url(sandbox: AfricasTalkingSandbox) -> Iterator[str]:
    with serving(sandbox) as url:
        yield url


@contextlib.contextmanager
def receiving(sandbox: AfricasTalkingSandbox, answer: Answer | None = None) -> Iterator[Receiver]:
    """Serve a receiver and point the sandbox's USSD and voice callbacks at it."""
    receiver = Receiver(answer)
    with serving(receiver) as url:
        sandbox.urls.update(ussd=f"{url}/hook", voice=f"{url}/hook")
        yield receiver


def booking_menu(event: WebhookEvent) -> WebhookReply | None:
    """A two-level USSD menu, as the conversation engine will write one."""
    if event.kind != "ussd.session":
        return None
    inputs = event.data["inputs"]
    if inputs == []:
        return ussd_reply("Karibu Amani Salon\n1. Book\n2. Prices", end=False)
    if inputs == ["1"]:
        return ussd_reply("Which day?\n1. Monday\n2. Tuesday", end=False)
    if inputs == ["1", "2"]:
        return ussd_reply("Booked for Tuesday. Asante!", end=True)
    return ussd_reply("Sorry, that is not a choice.", end=True)


# --- USSD ---------------------------------------------------------------------------------


def test_ussd_reply_is_con_or_end_plain_text() -> None:
    assert ussd_reply("1. Book\n2. Prices", end=False) == WebhookReply(
        200, b"CON 1. Book\n2. Prices", "text/plain"
    )
    assert ussd_reply("Asante", True) == WebhookReply(200, b"END Asante", "text/plain")
    assert ussd_reply("a\r\nb", end=False).body == b"CON a\nb"
    assert ussd_reply("x" * MAX_TEXT_CHARS, end=True).body == b"END " + b"x" * 182
    for text, end in (
        ("x" * 183, True),
        ("", False),
        ("  ", False),
        ("tab\there", True),
        ("bell\x07", False),
    ):
        with pytest.raises(UssdTextError):
            ussd_reply(text, end)


@given(st.lists(st.text(alphabet="0123456789#", min_size=1, max_size=12), max_size=6))
def test_ussd_inputs_split_the_text_as_at_joins_it(inputs: list[str]) -> None:
    assert ussd_inputs("*".join(inputs)) == inputs


async def test_a_whole_ussd_session_through_the_sandbox(at_url: str, sandbox: AfricasTalkingSandbox) -> None:
    with receiving(sandbox, booking_menu) as receiver:
        async with httpx.AsyncClient(base_url=at_url) as client:
            first = (await client.post("/sandbox/ussd/sessions", json={"phone": "+254712345678"})).json()
            session = first["session_id"]
            second = (await client.post(f"/sandbox/ussd/sessions/{session}", json={"input": "1"})).json()
            third = (await client.post(f"/sandbox/ussd/sessions/{session}", json={"input": "2"})).json()
            after = await client.post(f"/sandbox/ussd/sessions/{session}", json={"input": "1"})
    assert (first["reply"], first["ended"], first["text"]) == (
        "CON Karibu Amani Salon\n1. Book\n2. Prices",
        False,
        "",
    )
    assert first["content_type"].startswith("text/plain")
    assert (second["message"], second["ended"], second["text"]) == (
        "Which day?\n1. Monday\n2. Tuesday",
        False,
        "1",
    )
    assert (third["reply"], third["ended"], third["text"]) == ("END Booked for Tuesday. Asante!", True, "1*2")
    assert after.status_code == 409
    assert [e.data["text"] for e in receiver.events] == ["", "1", "1*2"]
    assert [e.data["inputs"] for e in receiver.events] == [[], ["1"], ["1", "2"]]
    assert {e.kind for e in receiver.events} == {"ussd.session"}
    assert {e.data["session_id"] for e in receiver.events} == {session}
    assert len({e.event_id for e in receiver.events}) == 3
    assert receiver.events[0].data == {
        "session_id": session,
        "phone": "+254712345678",
        "service_code": "*384*123#",
        "text": "",
        "inputs": [],
        "final": False,
        "network_code": "99999",
    }
    assert [x.form["text"] for x in sandbox.exchanges] == ["", "1", "1*2"]


async def test_the_default_ussd_reply_a_repeat_and_a_reply_at_refuses(
    at_url: str, sandbox: AfricasTalkingSandbox
) -> None:
    with receiving(sandbox) as receiver:
        async with httpx.AsyncClient(base_url=at_url) as client:
            sandbox.script("ussd", "twice")
            answer = (await client.post("/sandbox/ussd/sessions", json={"phone": "+254712345678"})).json()
    assert (answer["reply"], answer["ended"]) == (
        "END Thank you. This service is not available right now.",
        True,
    )
    first, again = receiver.events
    assert first.event_id == again.event_id  # AT asking again is the same event
    with receiving(sandbox, lambda event: WebhookReply(200, b"Hello", "text/plain")):
        async with httpx.AsyncClient(base_url=at_url) as client:
            answer = (await client.post("/sandbox/ussd/sessions", json={"phone": "+254712345678"})).json()
    assert answer["ended"] is True
    assert answer["error"] == "Response should start with a CON or an END"


def test_the_end_of_session_notification_is_a_final_ussd_event() -> None:
    body = (
        b"sessionId=ATUid_1&serviceCode=%2A384%2A123%23&phoneNumber=%2B254712345678&networkCode=63902"
        b"&status=Success&input=1%2A2&cost=KES+0.0000&durationInMillis=5000&hopsCount=3"
    )
    integration = make_integration("http://127.0.0.1:9")
    connector = AfricasTalking()
    request = InboundRequest("POST", body)
    (event,) = connector.parse_webhook(integration, request)
    assert (event.kind, event.event_id, event.data["final"], event.data["text"]) == (
        "ussd.session",
        "ATUid_1:end",
        True,
        "1*2",
    )
    assert event.data["status"] == "Success"
    assert connector.webhook_reply(integration, request, [event]).body == b"OK"


def test_callbacks_for_another_number_or_service_code_are_refused() -> None:
    connector = AfricasTalking()
    integration = make_integration("http://127.0.0.1:9")
    listed = Integration(
        id=integration.id,
        tenant_id=integration.tenant_id,
        connector="africastalking",
        config=AfricasTalkingConfig(username="sandbox", ussd_service_codes=("*384*123#",)),
        credentials=integration.credentials,
    )
    ours = (
        b"isActive=1&sessionId=S&direction=Inbound"
        b"&callerNumber=%2B254712345678&destinationNumber=%2B254711082000"
    )
    theirs = ours.replace(b"%2B254711082000", b"%2B254711999999")
    connector.verify_webhook(integration, InboundRequest("POST", ours))
    with pytest.raises(AuthFailed):
        connector.verify_webhook(integration, InboundRequest("POST", theirs))
    ussd = b"sessionId=S&serviceCode=%2A384%2A123%23&phoneNumber=%2B254712345678&text="
    connector.verify_webhook(listed, InboundRequest("POST", ussd))
    connector.verify_webhook(integration, InboundRequest("POST", ussd.replace(b"123", b"999")))  # lists none
    with pytest.raises(AuthFailed):
        connector.verify_webhook(listed, InboundRequest("POST", ussd.replace(b"123", b"999")))


# --- the voice XML builder ----------------------------------------------------------------


def xml(*inner: str) -> str:
    return f"{DECL}<Response>{''.join(inner)}</Response>"


def test_say_and_play() -> None:
    assert VoiceResponse().to_xml() == xml()
    assert VoiceResponse().say("Karibu").to_xml() == xml("<Say>Karibu</Say>")
    assert VoiceResponse().say("Hi", voice="woman", play_beep=True).to_xml() == xml(
        '<Say voice="woman" playBeep="true">Hi</Say>'
    )
    assert VoiceResponse().play("https://x.example/a.mp3?b=1&c=2").to_xml() == xml(
        '<Play url="https://x.example/a.mp3?b=1&amp;c=2"/>'
    )


def test_text_and_attributes_are_escaped() -> None:
    said = VoiceResponse().say("Tom & Jerry <3 \"quotes\" 'single'").to_xml()
    assert said == xml("<Say>Tom &amp; Jerry &lt;3 \"quotes\" 'single'</Say>")
    dialled = VoiceResponse().dial(["+254711000001"], ringback_tone='https://x.example/"r".mp3').to_xml()
    assert 'ringbackTone="https://x.example/&quot;r&quot;.mp3"' in dialled
    with pytest.raises(VoiceXmlError):
        VoiceResponse().say("null \x00 byte")


def test_get_digits() -> None:
    built = VoiceResponse().get_digits(
        say="Press 1 to book", timeout=20, finish_on_key="#", num_digits=1, callback_url="https://h.example/d"
    )
    assert built.to_xml() == xml(
        '<GetDigits timeout="20" finishOnKey="#" numDigits="1" callbackUrl="https://h.example/d">'
        "<Say>Press 1 to book</Say></GetDigits>"
    )
    assert VoiceResponse().get_digits(play="https://h.example/p.mp3").to_xml() == xml(
        '<GetDigits><Play url="https://h.example/p.mp3"/></GetDigits>'
    )


def test_record() -> None:
    assert VoiceResponse().record().to_xml() == xml("<Record/>")
    built = VoiceResponse().record(
        say="Leave a message", finish_on_key="*", max_length=10, timeout=5, trim_silence=True, play_beep=False
    )
    assert built.to_xml() == xml(
        '<Record finishOnKey="*" maxLength="10" timeout="5" trimSilence="true" playBeep="false">'
        "<Say>Leave a message</Say></Record>"
    )


def test_dial_redirect_reject_and_chaining() -> None:
    built = VoiceResponse().dial(
        ["+254711000001", "agent@ke.sip.africastalking.com"],
        record=True,
        sequential=True,
        caller_id="+254711082000",
        ringback_tone="https://h.example/rb.mp3",
        max_duration=60,
    )
    assert built.to_xml() == xml(
        '<Dial phoneNumbers="+254711000001,agent@ke.sip.africastalking.com" record="true" sequential="true"'
        ' callerId="+254711082000" ringbackTone="https://h.example/rb.mp3" maxDuration="60"/>'
    )
    chained = VoiceResponse().say("One").redirect("https://h.example/next?a=1&b=2").reject()
    assert chained.to_xml() == xml(
        "<Say>One</Say>", "<Redirect>https://h.example/next?a=1&amp;b=2</Redirect>", "<Reject/>"
    )
    reply = chained.reply()
    assert (reply.status, reply.media_type, reply.body) == (200, "application/xml", chained.to_xml().encode())


@pytest.mark.parametrize(
    "build",
    [
        lambda: VoiceResponse().say("x", voice="robot"),  # type: ignore[arg-type]
        lambda: VoiceResponse().get_digits(finish_on_key="ab"),
        lambda: VoiceResponse().get_digits(num_digits=0),
        lambda: VoiceResponse().get_digits(say="a", play="https://h.example/p.mp3"),
        lambda: VoiceResponse().record(callback_url="ftp://h.example"),
        lambda: VoiceResponse().dial([]),
        lambda: VoiceResponse().dial(["0712345678"]),
        lambda: VoiceResponse().play("not a url"),
    ],
)
def test_the_builder_refuses_what_at_could_not_execute(build: Callable[[], VoiceResponse]) -> None:
    with pytest.raises(VoiceXmlError):
        build()


# --- voice callbacks ----------------------------------------------------------------------


def ivr(event: WebhookEvent) -> WebhookReply | None:
    """An inbound-call menu: ask for a digit, then record, then thank and end."""
    if event.kind != "voice.call" or not event.data["active"]:
        return None
    if "digits" in event.data:
        return (
            VoiceResponse()
            .say(f"You pressed {event.data['digits']}")
            .record(say="Speak after the beep")
            .reply()
        )
    if "recording_url" in event.data:
        return VoiceResponse().say("Asante. Goodbye.").reply()
    return VoiceResponse().get_digits(say="Press 1 to book", num_digits=1).reply()


async def test_a_voice_call_round_trip(at_url: str, sandbox: AfricasTalkingSandbox) -> None:
    with receiving(sandbox, ivr) as receiver:
        async with httpx.AsyncClient(base_url=at_url) as client:
            start = (await client.post("/sandbox/voice/calls", json={"phone": "+254712345678"})).json()
            session = start["session_id"]
            pressed = (await client.post(f"/sandbox/voice/calls/{session}", json={"digits": "1"})).json()
            recorded = (await client.post(f"/sandbox/voice/calls/{session}", json={"recording": True})).json()
            ended = (await client.post(f"/sandbox/voice/calls/{session}", json={"hangup": True})).json()
            after = await client.post(f"/sandbox/voice/calls/{session}", json={"digits": "2"})
    assert start["reply"] == xml('<GetDigits numDigits="1"><Say>Press 1 to book</Say></GetDigits>')
    assert start["content_type"].startswith("application/xml")
    assert pressed["reply"] == xml(
        "<Say>You pressed 1</Say>", "<Record><Say>Speak after the beep</Say></Record>"
    )
    assert recorded["reply"] == xml("<Say>Asante. Goodbye.</Say>")
    assert ended["reply"] == xml()
    assert after.status_code == 409
    assert sandbox.voice_calls[session].replies == [
        start["reply"],
        pressed["reply"],
        recorded["reply"],
        xml(),
    ]
    kinds = {e.kind for e in receiver.events}
    assert kinds == {"voice.call"}
    first, digits, recording, final = receiver.events
    assert first.data == {
        "session_id": session,
        "phone": "+254712345678",
        "direction": "inbound",
        "active": True,
        "state": "active",
    }
    assert digits.data["digits"] == "1"
    assert str(recording.data["recording_url"]).endswith(".mp3")
    assert (final.data["active"], final.data["state"], final.data["hangup_cause"]) == (
        False,
        "completed",
        "NORMAL_CLEARING",
    )
    assert final.data["currency"] == "KES"
    assert isinstance(final.data["amount_minor"], int)
    assert len({e.event_id for e in receiver.events}) == 4
    assert all(e.event_id.startswith(f"{session}:") for e in receiver.events)


async def test_an_outbound_call_posts_its_callback_and_the_default_reply_says_goodbye(
    at_url: str, sandbox: AfricasTalkingSandbox
) -> None:
    with receiving(sandbox) as receiver:
        factory = HttpFactory()
        integration = make_integration(at_url)
        connector = AfricasTalking()
        out = await connector.call(
            "make_call",
            ActionContext(integration, factory.for_integration(connector, integration)),
            {"to": ["+254712345678"]},
        )
        await factory.aclose()
        deadline = time.monotonic() + 20
        while not receiver.events:
            assert time.monotonic() < deadline, "gave up waiting for the call's callback"
            await asyncio.sleep(0.02)
        (event,) = receiver.events
    assert isinstance(out, MakeCallOut)
    assert (event.kind, event.reference) == ("voice.call", out.entries[0].session_id)
    assert (event.data["direction"], event.data["phone"]) == ("outbound", "+254712345678")
    call = sandbox.voice_calls[str(event.reference)]
    while not call.replies:  # the sandbox keeps the reply once the receiver has answered
        assert time.monotonic() < deadline, "gave up waiting for the call's reply"
        await asyncio.sleep(0.02)
    assert call.replies == [xml("<Say>Thank you for calling. Goodbye.</Say>")]
    (exchange,) = sandbox.exchanges
    assert exchange.content_type == "application/xml"
    assert (exchange.form["direction"], exchange.form["destinationNumber"]) == ("Outbound", "+254712345678")


_XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r\ufffe\uffff").filter(
        lambda ch: ch in "\t\n" or ord(ch) >= 32
    )
)


@given(text=_XML_TEXT, query=st.text(alphabet="ab&<>\"'=;", max_size=10))
def test_what_is_said_and_played_reads_back_from_the_xml(text: str, query: str) -> None:
    document = VoiceResponse().say(text).play(f"https://h.example/a.mp3?q={query}").to_xml()
    root = ElementTree.fromstring(document.encode())  # noqa: S314 (our own output)
    say, play = list(root)
    assert (root.tag, say.tag, say.text or "", play.get("url")) == (
        "Response",
        "Say",
        text,
        f"https://h.example/a.mp3?q={query}",
    )
