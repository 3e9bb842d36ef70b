"""Shared pieces of the conversations tests: the API served on loopback with its embedded worker
(so webhooks, the inbox and runs all go for real), the WhatsApp and Africa's Talking sandboxes
calling it back, and small workflows that answer a channel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from api.conftest import API, World, app, client, settings, world
from smeflow.api import create_app
from smeflow.connectors.africastalking import AfricasTalkingSandbox
from smeflow.connectors.sandbox import SandboxServer, free_port
from smeflow.connectors.whatsapp import WhatsAppSandbox
from smeflow.db import Database
from smeflow.settings import Settings

DEADLINE = 60.0
CUSTOMER = "+254712345678"
AT_KEY = "at-sandbox-key-0001"
MATCH_CONVERSATION = "event.conversation_id == input.conversation_id"


@dataclass
class Live:
    """The API served on loopback (``url``) with the embedded worker."""

    url: str


@pytest.fixture
async def live(settings: Settings, db: Database) -> AsyncIterator[Live]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    served = settings.model_copy(
        update={"embedded_worker": True, "public_url": url, "http_allow_private_networks": True}
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(served, database=db), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the API did not start"
        await asyncio.sleep(0.01)
    try:
        yield Live(url)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def whatsapp() -> Iterator[tuple[WhatsAppSandbox, str]]:
    sandbox = WhatsAppSandbox()
    with SandboxServer(sandbox) as url:
        yield sandbox, url


@pytest.fixture
def africastalking() -> Iterator[tuple[AfricasTalkingSandbox, str]]:
    sandbox = AfricasTalkingSandbox(api_key=AT_KEY)
    with SandboxServer(sandbox) as url:
        yield sandbox, url


async def eventually(check: Callable[[], Any], what: str) -> Any:
    """``check()`` (awaited if it is a coroutine) once it is truthy; fails after DEADLINE seconds."""
    give_up = asyncio.get_running_loop().time() + DEADLINE
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert asyncio.get_running_loop().time() < give_up, f"waited {DEADLINE:g} s for {what}"
        await asyncio.sleep(0.05)


async def connect_whatsapp(
    http: httpx.AsyncClient, headers: dict[str, str], sandbox: WhatsAppSandbox, sandbox_url: str
) -> dict[str, Any]:
    """A WhatsApp integration on the sandbox, whose notifications go to its webhook URL."""
    created = await http.post(
        f"{API}/integrations",
        headers=headers,
        json={
            "connector": "whatsapp",
            "name": "WhatsApp",
            "config": {"base_url": sandbox_url, "phone_number_id": sandbox.phone_number_id},
            "credentials": {
                "access_token": sandbox.access_token,
                "app_secret": sandbox.app_secret,
                "verify_token": sandbox.verify_token,
            },
        },
    )
    assert created.status_code == 201, created.text
    sandbox.webhook_url = created.json()["webhook_url"]
    assert "/api/v1/webhooks/whatsapp/" in sandbox.webhook_url
    return dict(created.json())


async def connect_africastalking(
    http: httpx.AsyncClient, headers: dict[str, str], sandbox: AfricasTalkingSandbox, sandbox_url: str
) -> dict[str, Any]:
    """An Africa's Talking integration on the sandbox, whose inbound SMS come to its webhook URL."""
    created = await http.post(
        f"{API}/integrations",
        headers=headers,
        json={
            "connector": "africastalking",
            "name": "SMS",
            "config": {"base_url": sandbox_url, "username": sandbox.username},
            "credentials": {"api_key": AT_KEY},
        },
    )
    assert created.status_code == 201, created.text
    sandbox.urls.update(inbound_sms=created.json()["webhook_url"])
    return dict(created.json())


def reply_flow(channel: str, prefix: str = "You said: ") -> dict[str, Any]:
    """Answer each message with one reply on its channel."""
    return {
        "schema_version": 1,
        "name": f"Echo on {channel}",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "reply",
                "kind": "send_message",
                "config": {"channel": channel, "to": "input.from", "text": f'="{prefix}" + input.text'},
            },
            {"id": "done", "kind": "end"},
        ],
        "edges": [{"from": "start", "to": "reply"}, {"from": "reply", "to": "done"}],
    }


def booking_flow(channel: str) -> dict[str, Any]:
    """Ask which service, wait for the customer's next message in the conversation, confirm it."""
    return {
        "schema_version": 1,
        "name": f"Booking on {channel}",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "ask",
                "kind": "send_message",
                "config": {"channel": channel, "to": "input.from", "text": "Which service would you like?"},
            },
            {
                "id": "answer",
                "kind": "wait",
                "config": {"event": {"name": "conversation.message", "match": MATCH_CONVERSATION}},
            },
            {
                "id": "confirm",
                "kind": "send_message",
                "config": {
                    "channel": channel,
                    "to": "input.from",
                    "text": '="Booked: " + nodes.answer.event.payload.text',
                },
            },
            {"id": "done", "kind": "end"},
        ],
        "edges": [
            {"from": "start", "to": "ask"},
            {"from": "ask", "to": "answer"},
            {"from": "answer", "to": "confirm"},
            {"from": "confirm", "to": "done"},
        ],
    }


async def answering(
    http: httpx.AsyncClient, headers: dict[str, str], channel: str, definition: dict[str, Any]
) -> str:
    """Publish ``definition`` and make it answer ``channel``; its workflow id."""
    made = await http.post(
        f"{API}/workflows", headers=headers, json={"name": definition["name"], "definition": definition}
    )
    assert made.status_code == 201, made.text
    workflow_id = str(made.json()["id"])
    published = await http.post(f"{API}/workflows/{workflow_id}/publish", headers=headers)
    assert published.status_code == 201, published.text
    chosen = await http.put(
        f"{API}/conversation-workflows",
        headers=headers,
        json={"channel": channel, "workflow_id": workflow_id},
    )
    assert chosen.status_code == 200, chosen.text
    return workflow_id


async def conversations(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    listed = await http.get(f"{API}/conversations", headers=headers)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


async def conversation(
    http: httpx.AsyncClient, headers: dict[str, str], conversation_id: str
) -> dict[str, Any]:
    shown = await http.get(f"{API}/conversations/{conversation_id}", headers=headers)
    assert shown.status_code == 200, shown.text
    return dict(shown.json())


async def the_conversation(http: httpx.AsyncClient, headers: dict[str, str], messages: int) -> dict[str, Any]:
    """The tenant's only conversation, once it has at least ``messages`` messages."""

    async def check() -> dict[str, Any] | None:
        found = await conversations(http, headers)
        if len(found) != 1:
            return None
        shown = await conversation(http, headers, found[0]["id"])
        return shown if len(shown["messages"]) >= messages else None

    result: dict[str, Any] = await eventually(check, f"a conversation with {messages} messages")
    return result


def texts_sent(sandbox: WhatsAppSandbox) -> list[str]:
    """The texts the WhatsApp sandbox accepted, in order."""
    return [m["payload"]["text"]["body"] for m in sandbox.messages if m["type"] == "text"]


def new_uuid() -> str:
    return str(uuid.uuid4())


__all__ = [
    "API",
    "AT_KEY",
    "CUSTOMER",
    "DEADLINE",
    "Live",
    "World",
    "africastalking",
    "answering",
    "app",
    "booking_flow",
    "client",
    "connect_africastalking",
    "connect_whatsapp",
    "conversation",
    "conversations",
    "eventually",
    "live",
    "new_uuid",
    "reply_flow",
    "settings",
    "texts_sent",
    "the_conversation",
    "whatsapp",
    "world",
]
