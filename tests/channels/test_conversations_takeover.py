"""A person takes a WhatsApp conversation over, replies through the channel and hands it back;
the 24-hour window refuses free text to a customer who has been quiet for a day; all audited."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from smeflow.connectors.whatsapp import WhatsAppSandbox

from .conversations_kit import (
    API,
    CUSTOMER,
    Live,
    World,
    answering,
    app,
    booking_flow,
    client,
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

__all__ = ["app", "client", "live", "settings", "whatsapp", "world"]


async def customer_writes(http: httpx.AsyncClient, sandbox_url: str, text: str) -> None:
    sent = await http.post(f"{sandbox_url}/_sandbox/inbound", json={"from": CUSTOMER, "text": text})
    assert sent.status_code == 200, sent.text


def audit_actions(owner_conn: psycopg.Connection) -> list[str]:
    rows = owner_conn.execute(
        "SELECT action FROM audit_events WHERE action LIKE 'conversation.%' ORDER BY seq"
    ).fetchall()
    return [row[0] for row in rows]


async def test_messages_during_a_takeover_reach_staff_not_the_workflow_until_handed_back(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers, staff = world.a.key(), world.a.user("staff")
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, headers, sandbox, sandbox_url)
        await answering(http, headers, "whatsapp", reply_flow("whatsapp"))
        await customer_writes(http, sandbox_url, "one")
        await eventually(lambda: texts_sent(sandbox) == ["You said: one"], "the bot's reply")
        conversation_id = (await the_conversation(http, headers, messages=2))["id"]

        taken = await http.post(f"{API}/conversations/{conversation_id}/takeover", headers=staff)
        assert taken.status_code == 200, taken.text
        assert (taken.json()["mode"], taken.json()["assigned_user_id"]) == (
            "human",
            str(world.a.users["staff"]),
        )
        again = await http.post(f"{API}/conversations/{conversation_id}/takeover", headers=staff)
        assert again.status_code == 409

        await customer_writes(http, sandbox_url, "I want to talk to a person")
        await the_conversation(http, headers, messages=3)
        replied = await http.post(
            f"{API}/conversations/{conversation_id}/messages",
            headers=staff,
            json={"text": "Hi, this is Amani"},
        )
        assert replied.status_code == 201, replied.text
        assert replied.json()["sent_by"] == f"user:{world.a.users['staff']}"
        assert texts_sent(sandbox) == ["You said: one", "Hi, this is Amani"]

        back = await http.post(f"{API}/conversations/{conversation_id}/handback", headers=staff)
        assert back.status_code == 200, back.text
        assert (back.json()["mode"], back.json()["assigned_user_id"]) == ("bot", None)
        await customer_writes(http, sandbox_url, "three")
        await eventually(lambda: len(texts_sent(sandbox)) == 3, "the bot's reply after the hand-back")
        shown = await the_conversation(http, headers, messages=6)
    assert texts_sent(sandbox) == ["You said: one", "Hi, this is Amani", "You said: three"]
    assert [(m["direction"], m["text"]) for m in shown["messages"]] == [
        ("in", "one"),
        ("out", "You said: one"),
        ("in", "I want to talk to a person"),
        ("out", "Hi, this is Amani"),
        ("in", "three"),
        ("out", "You said: three"),
    ]
    assert shown["messages"][2]["payload"]["handed_to"] == "staff"
    runs = owner_conn.execute("SELECT input->>'text' FROM runs ORDER BY id").fetchall()
    assert runs == [("one",), ("three",)]  # the message during the takeover started nothing
    assert audit_actions(owner_conn) == [
        "conversation.workflow_set",
        "conversation.taken_over",
        "conversation.message_sent",
        "conversation.handed_back",
    ]


async def test_a_handed_back_conversation_resumes_its_waiting_run_with_its_context(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, headers, sandbox, sandbox_url)
        await answering(http, headers, "whatsapp", booking_flow("whatsapp"))
        await customer_writes(http, sandbox_url, "Book me in")
        await eventually(lambda: texts_sent(sandbox), "the question")
        conversation_id = (await the_conversation(http, headers, messages=2))["id"]

        def waiting() -> bool:
            return owner_conn.execute("SELECT status FROM runs").fetchall() == [("waiting",)]

        await eventually(waiting, "the run to wait for the answer")
        assert (
            await http.post(f"{API}/conversations/{conversation_id}/takeover", headers=headers)
        ).is_success
        await customer_writes(http, sandbox_url, "Is there parking?")
        await the_conversation(http, headers, messages=3)
        assert (
            await http.post(f"{API}/conversations/{conversation_id}/handback", headers=headers)
        ).is_success
        await customer_writes(http, sandbox_url, "Braids")
        await eventually(lambda: len(texts_sent(sandbox)) == 2, "the confirmation")

        def finished() -> Any:
            rows = owner_conn.execute("SELECT status FROM runs").fetchall()
            return rows if rows == [("succeeded",)] else None

        await eventually(finished, "the run to finish")
    assert texts_sent(sandbox) == ["Which service would you like?", "Booked: Braids"]


async def test_free_text_outside_the_24_hour_window_is_refused_and_a_template_is_not(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, headers, sandbox, sandbox_url)
        await customer_writes(http, sandbox_url, "Hello")
        conversation_id = (await the_conversation(http, headers, messages=1))["id"]
        owner_conn.execute(
            "UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = %s",
            (conversation_id,),
        )
        refused = await http.post(
            f"{API}/conversations/{conversation_id}/messages", headers=headers, json={"text": "Still there?"}
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "whatsapp_window_closed"
        assert "24 hours" in refused.json()["detail"]
        assert sandbox.messages == []  # nothing was sent
        bad = await http.post(
            f"{API}/conversations/{conversation_id}/messages",
            headers=headers,
            json={"text": "Hi", "template": "booking_reminder"},
        )
        assert bad.status_code == 422
        assert "body.text" in [e["field"] for e in bad.json()["errors"]]
        template = await http.post(
            f"{API}/conversations/{conversation_id}/messages",
            headers=headers,
            json={"template": "booking_reminder", "variables": {"time": "2pm"}, "language": "sw"},
        )
        assert template.status_code == 201, template.text
        shown = await the_conversation(http, headers, messages=2)
    (sent,) = sandbox.messages
    assert sent["type"] == "template"
    assert sent["payload"]["template"]["name"] == "booking_reminder"
    assert sent["payload"]["template"]["language"] == {"code": "sw"}
    assert [(m["direction"], m["payload"].get("template")) for m in shown["messages"]] == [
        ("in", None),
        ("out", "booking_reminder"),
    ]


async def test_a_workflow_reply_outside_the_window_fails_its_step_naming_the_window(
    live: Live, world: World, whatsapp: tuple[WhatsAppSandbox, str], owner_conn: psycopg.Connection
) -> None:
    sandbox, sandbox_url = whatsapp
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await connect_whatsapp(http, headers, sandbox, sandbox_url)
        await answering(http, headers, "whatsapp", booking_flow("whatsapp"))
        await customer_writes(http, sandbox_url, "Book me in")
        await eventually(lambda: texts_sent(sandbox), "the question")
        conversation_id = (await the_conversation(http, headers, messages=2))["id"]

        def waiting() -> bool:
            return owner_conn.execute("SELECT status FROM runs").fetchall() == [("waiting",)]

        await eventually(waiting, "the run to wait")
        # the customer's last message is (made) older than a day when the answer comes by another
        # way than the customer (an event emitted by hand): the workflow cannot send free text
        owner_conn.execute(
            "UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = %s",
            (conversation_id,),
        )
        await http.post(
            f"{API}/events",
            headers=headers,
            json={
                "name": "conversation.message",
                "payload": {"conversation_id": conversation_id, "text": "Braids", "from": CUSTOMER},
            },
        )

        def failed() -> Any:
            rows = owner_conn.execute("SELECT status, error FROM runs").fetchall()
            return rows if rows and rows[0][0] == "failed" else None

        ((_, error),) = await eventually(failed, "the run to fail")
    assert "24 hours" in error
    assert texts_sent(sandbox) == ["Which service would you like?"]
