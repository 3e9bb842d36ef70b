"""The Africa's Talking sandbox speaks AT's protocol: auth refusals in AT's shape, form bodies,
the send answer's fields, callback URLs set at run time, and the callback controls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl

import httpx
import pytest

from smeflow.connectors.africastalking import AfricasTalkingSandbox
from smeflow.connectors.sandbox import serving

API_KEY = "atsk_sandbox_0123456789abcdef"
HEADERS = {"apiKey": API_KEY, "Accept": "application/json"}


@pytest.fixture
def sandbox() -> AfricasTalkingSandbox:
    return AfricasTalkingSandbox(api_key=API_KEY)


@pytest.fixture
def at_url(sandbox: AfricasTalkingSandbox) -> Iterator[str]:
    with serving(sandbox) as url:
        yield url


async def test_refusals_have_at_shapes(at_url: str) -> None:
    form = {"username": "sandbox", "to": "+254712345678", "message": "Hi"}
    async with httpx.AsyncClient(base_url=at_url) as client:
        wrong_key = await client.post("/version1/messaging", data=form, headers={**HEADERS, "apiKey": "nope"})
        wrong_user = await client.post(
            "/version1/messaging", data={**form, "username": "other"}, headers=HEADERS
        )
        no_accept = await client.post("/version1/messaging", data=form, headers={"apiKey": API_KEY})
        as_json = await client.post("/version1/messaging", json=form, headers=HEADERS)
        missing = await client.post(
            "/version1/messaging", data={"username": "sandbox", "to": "+2547"}, headers=HEADERS
        )
        user = await client.get(
            "/version1/user",
            params={"username": "sandbox"},
            headers={"apikey": API_KEY, "accept": "application/json"},
        )
    for refused in (wrong_key, wrong_user):
        assert refused.status_code == 401
        assert refused.text == "The supplied authentication is invalid"
        assert refused.headers["content-type"].startswith("text/plain")
        assert refused.headers["www-authenticate"] == 'Basic realm="api"'
    assert (no_accept.status_code, as_json.status_code) == (406, 415)
    assert (missing.status_code, missing.text) == (400, "Request is missing required form field 'message'")
    assert user.json() == {"UserData": {"balance": "KES 1000.0000"}}  # header names are case-insensitive


async def test_the_send_answer_has_at_fields(at_url: str) -> None:
    form = {"username": "sandbox", "to": "+254712345678,+254700000403,0712", "message": "Hi"}
    async with httpx.AsyncClient(base_url=at_url) as client:
        answer = await client.post("/version1/messaging", data=form, headers=HEADERS)
    assert answer.status_code == 201
    data = answer.json()["SMSMessageData"]
    assert data["Message"] == "Sent to 1/3 Total Cost: KES 0.8000 Message parts: 1"
    sent, invalid, unparsable = data["Recipients"]
    assert set(sent) == {"cost", "messageId", "number", "status", "statusCode"}
    assert sent["messageId"].startswith("ATXid_")
    assert (sent["statusCode"], sent["status"], sent["cost"]) == (101, "Success", "KES 0.8000")
    assert (invalid["statusCode"], invalid["status"], invalid["messageId"]) == (
        403,
        "InvalidPhoneNumber",
        "None",
    )
    assert unparsable["statusCode"] == 403


async def test_callbacks_are_configured_at_run_time_and_can_be_dropped_or_repeated(
    at_url: str, sandbox: AfricasTalkingSandbox
) -> None:
    async with httpx.AsyncClient(base_url=at_url) as client:
        assert (await client.post("/sandbox/sms/inbound", json={"from": "+254712345678"})).status_code == 400
        urls = (await client.post("/sandbox/callbacks", json={"inbound_sms": "http://127.0.0.1:9/in"})).json()
        assert urls["inbound_sms"] == "http://127.0.0.1:9/in"
        sandbox.script("callback", "drop", "twice")
        dropped = (
            await client.post("/sandbox/sms/inbound", json={"from": "+254712345678", "text": "a"})
        ).json()
        twice = (
            await client.post("/sandbox/sms/inbound", json={"from": "+254712345678", "text": "b"})
        ).json()
    deadline = time.monotonic() + 20
    while len(sandbox.callbacks.sent) < 2 or sandbox.callbacks.pending:
        assert time.monotonic() < deadline, "gave up waiting for the repeated callback"
        await asyncio.sleep(0.02)
    ids = [dict(parse_qsl(c.body.decode()))["id"] for c in sandbox.callbacks.sent]
    assert ids == [twice["id"], twice["id"]]
    assert dropped["id"] not in ids
    assert all(c.error is not None for c in sandbox.callbacks.sent)  # nothing listens at :9; recorded anyway


async def test_controls_need_their_callback_url_and_know_their_sessions(at_url: str) -> None:
    async with httpx.AsyncClient(base_url=at_url) as client:
        no_ussd = await client.post("/sandbox/ussd/sessions", json={"phone": "+254712345678"})
        no_voice = await client.post("/sandbox/voice/calls", json={"phone": "+254712345678"})
        unknown = await client.post("/sandbox/ussd/sessions/nope", json={"input": "1"})
        unknown_call = await client.post("/sandbox/voice/calls/nope", json={"digits": "1"})
    assert (no_ussd.status_code, no_voice.status_code) == (400, 400)
    assert (unknown.status_code, unknown_call.status_code) == (404, 404)


def test_the_scenarios_document_every_control() -> None:
    text = AfricasTalkingSandbox.scenarios
    for control in (
        "+254700000CCC",
        "9001",
        "9002",
        "9003",
        "INVALID",
        "sms_status",
        "delivery",
        "callback",
        "ussd",
        "http",
        "/sandbox/callbacks",
    ):
        assert control in text
