"""WhatsApp and SMS conversations end to end over real HTTP: the sandbox posts the customer's
message to the API's webhook, the inbox hands it to the channel's workflow, whose send_message
reply reaches the sandbox; messages of one conversation are handled in order."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from smeflow.connectors.africastalking import AfricasTalkingSandbox
from smeflow.connectors.whatsapp import WhatsAppSandbox

from .conversations_kit import (
    API,
    CUSTOMER,
    Live,
    World,
    africastalking,
    answering,
    app,
    booking_flow,
    client,
    connect_africastalking,
    connect_whatsapp,
    eventually,
    live,
    reply_flow,
    settings,
    texts_sent,
    the_conversation,
    whatsapp,
    world,
)

__all__ = ["africastalking", "app", "client", "live", "settings", "whatsapp", "world"]


async def customer_writes(
    http: httpx.AsyncClient, sandbox_url: str, text: str, sender: str = CUSTOMER
) -> str:
    """The customer sends a WhatsApp message (the sandbox notifies the webhook); its wamid."""
    sent = await http.post(
        f"{sandbox_url}/_sandbox/inbound", json={"from": sender, "text": text, "name": "Wanjiru"}
    )
    assert sent.status_code == 200, sent.text
    return str(sent.json()["id"])


def runs_are(owner_conn: psycopg.Connection, *statuses: str) -> bool:
    """Whether the runs, in order, are in these statuses."""
    return owner_conn.execute("SELECT status FROM runs ORDER BY id").fetchall() == [(s,) for s in statuses]


async def test_a_whatsapp_message_gets_the_workflows_reply(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        integration = await connect_whatsapp(http, headers, sandbox, sandbox_url)
        workflow_id = await answering(http, headers, "whatsapp", reply_flow("whatsapp"))
        wamid = await customer_writes(http, sandbox_url, "Habari, I want braids")
        await eventually(lambda: texts_sent(sandbox), "the reply at the sandbox")
        shown = await the_conversation(http, headers, messages=2)
    assert texts_sent(sandbox) == ["You said: Habari, I want braids"]
    assert sandbox.messages[0]["to"] == CUSTOMER.lstrip("+")
    assert (shown["channel"], shown["address"], shown["customer_name"], shown["mode"]) == (
        "whatsapp",
        CUSTOMER,
        "Wanjiru",
        "bot",
    )
    assert shown["integration_id"] == integration["id"]
    assert shown["workflow_id"] == workflow_id
    assert shown["last_inbound_at"] is not None
    incoming, outgoing = shown["messages"]
    assert (incoming["direction"], incoming["text"], incoming["provider_message_id"]) == (
        "in",
        "Habari, I want braids",
        wamid,
    )
    assert incoming["payload"]["handed_to"] == f"run:{shown['run_id']}"
    assert (outgoing["direction"], outgoing["text"]) == ("out", "You said: Habari, I want braids")
    assert outgoing["provider_message_id"] == sandbox.messages[0]["id"]
    assert outgoing["sent_by"] == f"run:{shown['run_id']}"
    await eventually(lambda: runs_are(owner_conn, "succeeded"), "the run to finish")
    assert owner_conn.execute("SELECT order_key FROM runs").fetchall() == [(f"conversation:{shown['id']}",)]


async def test_a_repeated_notification_is_one_message_and_one_run(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers = world.a.key()
    sandbox.script("callback", "twice")
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, headers, sandbox, sandbox_url)
        await answering(http, headers, "whatsapp", reply_flow("whatsapp"))
        await customer_writes(http, sandbox_url, "Hello?")

        def two_deliveries() -> bool:
            row = owner_conn.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE convert_from(body, 'UTF8') LIKE '%Hello?%'"
            ).fetchone()
            return row is not None and row[0] == 2

        await eventually(two_deliveries, "both deliveries")
        await eventually(lambda: texts_sent(sandbox), "the reply")
        shown = await the_conversation(http, headers, messages=2)
    assert [m["direction"] for m in shown["messages"]] == ["in", "out"]
    assert owner_conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    assert texts_sent(sandbox) == ["You said: Hello?"]


async def test_the_next_message_reaches_the_waiting_run_in_order(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, headers, sandbox, sandbox_url)
        await answering(http, headers, "whatsapp", booking_flow("whatsapp"))
        await customer_writes(http, sandbox_url, "Book me in")
        await eventually(lambda: texts_sent(sandbox), "the question")
        await customer_writes(http, sandbox_url, "Braids")
        await eventually(lambda: len(texts_sent(sandbox)) == 2, "the confirmation")
        shown = await the_conversation(http, headers, messages=4)

        def finished() -> Any:
            rows = owner_conn.execute("SELECT status FROM runs").fetchall()
            return rows if rows == [("succeeded",)] else None

        await eventually(finished, "the one run to finish")
    assert texts_sent(sandbox) == ["Which service would you like?", "Booked: Braids"]
    assert [(m["direction"], m["text"]) for m in shown["messages"]] == [
        ("in", "Book me in"),
        ("out", "Which service would you like?"),
        ("in", "Braids"),
        ("out", "Booked: Braids"),
    ]
    assert shown["messages"][2]["payload"]["handed_to"].startswith("event:")
    events = owner_conn.execute(
        "SELECT name, payload->>'conversation_id', payload->>'text' FROM events"
    ).fetchall()
    assert events == [("conversation.message", shown["id"], "Braids")]


async def test_two_quick_messages_run_one_after_the_other_in_order(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, headers, sandbox, sandbox_url)
        await answering(http, headers, "whatsapp", reply_flow("whatsapp"))
        await customer_writes(http, sandbox_url, "one")
        await the_conversation(http, headers, messages=1)
        await customer_writes(http, sandbox_url, "two")  # while the first run may still be going
        await eventually(lambda: len(texts_sent(sandbox)) == 2, "both replies")

        def finished() -> Any:
            rows = owner_conn.execute(
                "SELECT status, order_key, input->>'text' FROM runs ORDER BY id"
            ).fetchall()
            return rows if all(status == "succeeded" for status, _, _ in rows) else None

        runs = await eventually(finished, "both runs to finish")
    assert texts_sent(sandbox) == ["You said: one", "You said: two"]
    assert [text for _, _, text in runs] == ["one", "two"]
    assert len({key for _, key, _ in runs}) == 1  # one conversation, one order key


async def test_an_sms_conversation_over_africas_talking(
    live: Live,
    world: World,
    africastalking: tuple[AfricasTalkingSandbox, str],
    owner_conn: psycopg.Connection,
) -> None:
    sandbox, sandbox_url = africastalking
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        integration = await connect_africastalking(http, headers, sandbox, sandbox_url)
        await answering(http, headers, "sms", reply_flow("sms", "Asante! "))
        sent = await http.post(
            f"{sandbox_url}/sandbox/sms/inbound", json={"from": CUSTOMER, "text": "BOOK 2pm", "to": "22384"}
        )
        assert sent.status_code in (200, 201), sent.text
        await eventually(lambda: sandbox.messages, "the SMS reply")
        shown = await the_conversation(http, headers, messages=2)
    (provider_id, reply), *others = sandbox.messages.items()
    assert others == []
    assert (reply["number"], reply["message"]) == (CUSTOMER, "Asante! BOOK 2pm")
    assert (shown["channel"], shown["address"], shown["integration_id"]) == (
        "sms",
        CUSTOMER,
        integration["id"],
    )
    assert [(m["direction"], m["text"]) for m in shown["messages"]] == [
        ("in", "BOOK 2pm"),
        ("out", "Asante! BOOK 2pm"),
    ]
    assert shown["messages"][1]["provider_message_id"] == provider_id
    await eventually(lambda: runs_are(owner_conn, "succeeded"), "the run to finish")


async def test_a_message_on_a_channel_nobody_answers_is_kept_and_starts_nothing(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, headers, sandbox, sandbox_url)
        await customer_writes(http, sandbox_url, "Anyone there?")
        shown = await the_conversation(http, headers, messages=1)
    assert shown["messages"][0]["payload"]["problem"] == "no workflow answers whatsapp"
    assert shown["run_id"] is None
    assert owner_conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    assert texts_sent(sandbox) == []


async def test_another_tenant_sees_none_of_the_conversation(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str]
) -> None:
    sandbox, sandbox_url = whatsapp
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, world.a.key(), sandbox, sandbox_url)
        await customer_writes(http, sandbox_url, "Hi")
        shown = await the_conversation(http, world.a.key(), messages=1)
        other = world.b.key()
        assert (await http.get(f"{API}/conversations", headers=other)).json()["items"] == []
        for method, path in [
            ("GET", ""),
            ("POST", "/takeover"),
            ("POST", "/handback"),
        ]:
            answer = await http.request(method, f"{API}/conversations/{shown['id']}{path}", headers=other)
            assert answer.status_code == 404, answer.text
        replied = await http.post(
            f"{API}/conversations/{shown['id']}/messages", headers=other, json={"text": "Not yours"}
        )
        assert replied.status_code == 404
    assert texts_sent(sandbox) == []


def reminder_flow() -> dict[str, Any]:
    """Text a reminder to a phone number (the workflow writes first)."""
    return {
        "schema_version": 1,
        "name": "Reminder",
        "triggers": [{"kind": "manual"}],
        "input_schema": {
            "type": "object",
            "properties": {"phone": {"type": "string"}},
            "required": ["phone"],
        },
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "remind",
                "kind": "send_message",
                "config": {"channel": "sms", "to": "input.phone", "text": "Your braids are at 2pm tomorrow"},
            },
            {"id": "done", "kind": "end"},
        ],
        "edges": [{"from": "start", "to": "remind"}, {"from": "remind", "to": "done"}],
    }


async def test_a_workflow_that_writes_first_opens_the_sms_conversation(
    live: Live,
    world: World,
    africastalking: tuple[AfricasTalkingSandbox, str],
    owner_conn: psycopg.Connection,
) -> None:
    sandbox, sandbox_url = africastalking
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        integration = await connect_africastalking(http, headers, sandbox, sandbox_url)
        made = await http.post(
            f"{API}/workflows", headers=headers, json={"name": "Reminder", "definition": reminder_flow()}
        )
        workflow_id = made.json()["id"]
        assert (await http.post(f"{API}/workflows/{workflow_id}/publish", headers=headers)).status_code == 201
        started = await http.post(
            f"{API}/workflows/{workflow_id}/runs", headers=headers, json={"input": {"phone": CUSTOMER}}
        )
        assert started.status_code == 202, started.text
        await eventually(lambda: sandbox.messages, "the reminder")
        shown = await the_conversation(http, headers, messages=1)
        not_a_phone = await http.post(
            f"{API}/workflows/{workflow_id}/runs", headers=headers, json={"input": {"phone": "tomorrow"}}
        )
        run_id = not_a_phone.json()["id"]

        async def failed() -> Any:
            run = (await http.get(f"{API}/runs/{run_id}", headers=headers)).json()
            return run if run["status"] == "failed" else None

        run = await eventually(failed, "the run to a bad number to fail")
    assert [m["message"] for m in sandbox.messages.values()] == ["Your braids are at 2pm tomorrow"]
    assert (shown["address"], shown["integration_id"], shown["last_inbound_at"]) == (
        CUSTOMER,
        integration["id"],
        None,
    )
    assert [(m["direction"], m["sent_by"]) for m in shown["messages"]] == [
        ("out", f"run:{started.json()['id']}")
    ]
    assert "E.164" in run["error"]
