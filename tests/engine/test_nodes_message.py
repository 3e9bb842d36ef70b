"""send_message steps on the real database, through a test sender that POSTs to a local HTTP
server (a stand-in SMS/WhatsApp gateway): a message is sent once with the idempotency key run +
node, also when the run is executed again; templates go to the sender with their variables; a
transient failure is retried with the same key; a refusal fails the step readably; a channel with
no sender, or a template on a sender that only sends texts, is refused when compiled."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from smeflow.db import Database, DbScope
from smeflow.engine.definitions import parse_definition
from smeflow.engine.runtime import (
    OutboundMessage,
    Runtime,
    SendCall,
    SenderRegistry,
    SentMessage,
    StepFailed,
    TransientStepError,
    UnsupportedNode,
    build_graph,
    default_actions,
    list_events,
    thread_id,
)

from .test_runtime import accept, load, published


class Gateway:
    """A local HTTP server answering each POST with the next scripted status (the last repeats)
    and a message id, recording every call."""

    def __init__(self) -> None:
        self.statuses = [201]
        self.calls: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append({"body": body, "key": self.headers.get("Idempotency-Key")})
                status = outer.statuses[min(len(outer.calls), len(outer.statuses)) - 1]
                answer = json.dumps({"id": f"msg-{len(outer.calls)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/messages"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


class GatewaySender:
    """A sender for ``channel`` that POSTs each message to the gateway."""

    def __init__(self, channel: str, url: str, *, renders_templates: bool = True) -> None:
        self.channel = channel
        self.renders_templates = renders_templates
        self.url = url

    async def send(self, call: SendCall, message: OutboundMessage) -> SentMessage:
        response = await call.http.post(
            self.url,
            json={
                "to": message.to,
                "text": message.text,
                "template": message.template,
                "variables": message.variables,
                "language": message.language,
                "node": call.node_id,
            },
            headers={"Idempotency-Key": message.idempotency_key},
        )
        if response.status_code >= 500:
            raise TransientStepError(f"the gateway answered {response.status_code}")
        if response.status_code >= 400:
            raise StepFailed(f"the gateway refused the message ({response.status_code})")
        return SentMessage(response.json()["id"], "queued")


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


def senders(url: str) -> SenderRegistry:
    return SenderRegistry(
        [GatewaySender("sms", url, renders_templates=False), GatewaySender("whatsapp", url)]
    )


def sending(message: dict[str, Any], *, retry: dict[str, Any] | None = None) -> dict[str, Any]:
    """trigger → confirm (send_message) → done (the message id and status)."""
    step: dict[str, Any] = {"id": "confirm", "kind": "send_message", "config": message}
    if retry is not None:
        step["retry"] = retry
    return {
        "schema_version": 1,
        "name": "Confirmation",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            step,
            {
                "id": "done",
                "kind": "end",
                "config": {"output": {"id": "nodes.confirm.message_id", "status": "nodes.confirm.status"}},
            },
        ],
        "edges": [{"from": "start", "to": "confirm"}, {"from": "confirm", "to": "done"}],
    }


SMS = {"channel": "sms", "to": "input.phone", "text": '="Karibu " + input.name + ", see you on " + input.day'}
CUSTOMER = {"phone": "+254712345678", "name": "Wanjiru", "day": "Friday"}


async def test_a_message_is_sent_once_even_when_the_run_is_executed_again(
    db: Database, tenant_a: uuid.UUID, gateway: Gateway, owner_conn: psycopg.Connection
) -> None:
    async with Runtime(db, senders=senders(gateway.url), allow_private_networks=True) as runtime:
        workflow = await published(db, tenant_a, sending(SMS))
        run_id = await accept(db, tenant_a, workflow, CUSTOMER)
        assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
        run, _ = await load(db, tenant_a, run_id)
        assert run.output == {"id": "msg-1", "status": "queued"}
        assert gateway.calls == [
            {
                "body": {
                    "to": "+254712345678",
                    "text": "Karibu Wanjiru, see you on Friday",
                    "template": None,
                    "variables": {},
                    "language": None,
                    "node": "confirm",
                },
                "key": f"{run_id}:confirm",
            }
        ]
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            step = (await list_events(session, tenant_a, run_id))[1]
        assert step.input == {
            "channel": "sms",
            "to": "+254712345678",
            "language": None,
            "text": "Karibu Wanjiru, see you on Friday",
        }
        assert step.output == {
            "channel": "sms",
            "to": "+254712345678",
            "message_id": "msg-1",
            "status": "queued",
        }

        # A worker died after the send: the run is running again and starts from the trigger.
        owner_conn.execute("UPDATE runs SET status = 'running' WHERE id = %s", (run_id,))
        owner_conn.execute(
            "DELETE FROM engine.checkpoints WHERE thread_id = %s", (thread_id(tenant_a, run_id),)
        )
        assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
        run, events = await load(db, tenant_a, run_id)
        assert run.output == {"id": "msg-1", "status": "queued"}
        assert len(gateway.calls) == 1
        assert [node for node, _ in events].count("confirm") == 2  # the step ran twice, the send once


async def test_a_template_goes_to_the_sender_with_its_variables(
    db: Database, tenant_a: uuid.UUID, gateway: Gateway
) -> None:
    message = {
        "channel": "whatsapp",
        "to": "input.phone",
        "template": "booking_confirmed",
        "variables": {"service": "=input.service", "salon": "Mama Njeri", "deposit": "=input.deposit / 100"},
        "language": "input.language",
    }
    async with Runtime(db, senders=senders(gateway.url), allow_private_networks=True) as runtime:
        workflow = await published(db, tenant_a, sending(message))
        data = {"phone": "+254712345678", "service": "Braids", "deposit": 150000, "language": "sw"}
        run_id = await accept(db, tenant_a, workflow, data)
        assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
    (call,) = gateway.calls
    assert call["body"] == {
        "to": "+254712345678",
        "text": None,
        "template": "booking_confirmed",
        "variables": {"service": "Braids", "salon": "Mama Njeri", "deposit": 1500},
        "language": "sw",
        "node": "confirm",
    }


async def test_a_transient_failure_is_retried_with_the_same_key(
    db: Database, tenant_a: uuid.UUID, gateway: Gateway, owner_conn: psycopg.Connection
) -> None:
    gateway.statuses = [503, 503, 201]
    retry = {"max_attempts": 3, "initial_interval": 0.01, "backoff": 1, "jitter": False}
    async with Runtime(db, senders=senders(gateway.url), allow_private_networks=True) as runtime:
        workflow = await published(db, tenant_a, sending(SMS, retry=retry))
        run_id = await accept(db, tenant_a, workflow, CUSTOMER)
        assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
    assert [call["key"] for call in gateway.calls] == [f"{run_id}:confirm"] * 3
    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"id": "msg-3", "status": "queued"}
    assert events == [("start", "succeeded"), ("confirm", "succeeded"), ("done", "succeeded")]
    assert owner_conn.execute("SELECT count(*) FROM step_journal").fetchone() == (1,)


async def test_a_refused_message_fails_the_run_naming_the_step(
    db: Database, tenant_a: uuid.UUID, gateway: Gateway, owner_conn: psycopg.Connection
) -> None:
    gateway.statuses = [400]
    async with Runtime(db, senders=senders(gateway.url), allow_private_networks=True) as runtime:
        workflow = await published(
            db, tenant_a, sending(SMS, retry={"max_attempts": 3, "initial_interval": 0.01})
        )
        run_id = await accept(db, tenant_a, workflow, CUSTOMER)
        assert await runtime.execute_run(tenant_a, run_id) == "failed"
    run, events = await load(db, tenant_a, run_id)
    assert run.error == "Step 'confirm': the gateway refused the message (400)"
    assert events == [("start", "succeeded"), ("confirm", "failed")]
    assert len(gateway.calls) == 1  # a refusal is not retried
    assert owner_conn.execute("SELECT count(*) FROM step_journal").fetchone() == (0,)


async def test_a_recipient_that_is_not_one_fails_readably(
    db: Database, tenant_a: uuid.UUID, gateway: Gateway
) -> None:
    async with Runtime(db, senders=senders(gateway.url), allow_private_networks=True) as runtime:
        workflow = await published(db, tenant_a, sending(SMS))
        run_id = await accept(db, tenant_a, workflow, CUSTOMER | {"phone": None})
        assert await runtime.execute_run(tenant_a, run_id) == "failed"
    run, _ = await load(db, tenant_a, run_id)
    assert run.error == (
        "Step 'confirm': the recipient 'input.phone' gave None; a recipient is a phone number, "
        "an email address or a chat id"
    )
    assert gateway.calls == []


async def test_a_channel_without_a_sender_is_refused_when_compiled(
    db: Database, tenant_a: uuid.UUID, gateway: Gateway
) -> None:
    definition = sending(SMS)
    with pytest.raises(UnsupportedNode) as caught:
        build_graph(parse_definition(definition), default_actions())
    assert caught.value.message == "no sender for the sms channel is installed (step 'confirm')"
    assert [(f.field, f.code) for f in caught.value.fields] == [
        ("definition.nodes[1].config.channel", "unknown_channel")
    ]
    async with Runtime(db, allow_private_networks=True) as runtime:  # the default: no senders
        workflow = await published(db, tenant_a, definition)
        run_id = await accept(db, tenant_a, workflow, CUSTOMER)
        assert await runtime.execute_run(tenant_a, run_id) == "failed"
    run, events = await load(db, tenant_a, run_id)
    assert run.error == "no sender for the sms channel is installed (step 'confirm')"
    assert events == []
    assert gateway.calls == []


def test_a_template_on_a_sender_that_only_sends_texts_is_refused(gateway: Gateway) -> None:
    definition = sending({"channel": "sms", "to": "input.phone", "template": "reminder"})
    with pytest.raises(UnsupportedNode) as caught:
        build_graph(parse_definition(definition), default_actions(), senders=senders(gateway.url))
    assert [(f.field, f.code, f.message) for f in caught.value.fields] == [
        (
            "definition.nodes[1].config.template",
            "not_supported",
            "the sms sender cannot send templates; give step 'confirm' a text instead",
        )
    ]
