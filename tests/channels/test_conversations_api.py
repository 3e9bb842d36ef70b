"""The conversations API over ASGI: choosing a channel's workflow (bad input refused naming the
field, nothing written), listing and filtering conversations, takeover and hand-back conflicts,
reply validation."""

from __future__ import annotations

import uuid

import httpx
import psycopg

from api.conftest import assert_problem, fields_of
from smeflow.channels._conversations import add_message, conversation_for
from smeflow.db import Database, DbScope

from .conversations_kit import API, World, app, client, reply_flow, settings, world

__all__ = ["app", "client", "settings", "world"]


async def web_conversation(db: Database, tenant_id: uuid.UUID, visitor: str) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        conversation = await conversation_for(session, tenant_id, "web", None, visitor)
        await add_message(
            session, conversation, "in", "Hello", provider_message_id="visitor:1", status="received"
        )
        return conversation.id


async def test_a_channels_workflow_must_be_a_published_workflow_of_the_tenant(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    headers = world.a.user("staff")
    admin = world.a.user("admin")
    made = await client.post(
        f"{API}/workflows", headers=admin, json={"name": "Echo", "definition": reply_flow("web")}
    )
    assert made.status_code == 201, made.text
    workflow_id = made.json()["id"]
    cases = [
        ({"channel": "ussd", "workflow_id": workflow_id}, 422, "body.channel"),
        ({"channel": "web", "workflow_id": "not-an-id"}, 422, "body.workflow_id"),
        ({"channel": "web"}, 422, "body.workflow_id"),
        ({"channel": "web", "workflow_id": workflow_id}, 422, "body.workflow_id"),  # not published
        ({"channel": "web", "workflow_id": workflow_id, "extra": 1}, 422, "body.extra"),
    ]
    for body, status, field in cases:
        answer = await client.put(f"{API}/conversation-workflows", headers=headers, json=body)
        problem = assert_problem(answer, status)
        assert field in fields_of(problem), (body, problem)
    elsewhere = await client.put(
        f"{API}/conversation-workflows",
        headers=world.b.user("staff"),
        json={"channel": "web", "workflow_id": workflow_id},
    )
    assert_problem(elsewhere, 404, "not_found")
    assert owner_conn.execute("SELECT count(*) FROM conversation_workflows").fetchone() == (0,)

    assert (await client.post(f"{API}/workflows/{workflow_id}/publish", headers=admin)).status_code == 201
    chosen = await client.put(
        f"{API}/conversation-workflows", headers=headers, json={"channel": "web", "workflow_id": workflow_id}
    )
    assert chosen.status_code == 200, chosen.text
    listed = await client.get(f"{API}/conversation-workflows", headers=world.a.user("viewer"))
    assert [(s["channel"], s["workflow_id"]) for s in listed.json()] == [("web", workflow_id)]
    assert (await client.get(f"{API}/conversation-workflows", headers=world.b.user("viewer"))).json() == []


async def test_conversations_list_filter_and_page(
    client: httpx.AsyncClient, world: World, db: Database
) -> None:
    ids = [await web_conversation(db, world.a.id, f"v_visitor{n}") for n in range(3)]
    headers = world.a.user("viewer")
    first = await client.get(f"{API}/conversations", headers=headers, params={"limit": 2})
    assert [c["id"] for c in first.json()["items"]] == [str(ids[2]), str(ids[1])]
    rest = await client.get(
        f"{API}/conversations", headers=headers, params={"limit": 2, "cursor": first.json()["next_cursor"]}
    )
    assert [c["id"] for c in rest.json()["items"]] == [str(ids[0])]
    assert rest.json()["next_cursor"] is None
    humans = await client.get(f"{API}/conversations", headers=headers, params={"mode": "human"})
    assert humans.json()["items"] == []
    whatsapp = await client.get(f"{API}/conversations", headers=headers, params={"channel": "whatsapp"})
    assert whatsapp.json()["items"] == []
    bad = await client.get(f"{API}/conversations", headers=headers, params={"channel": "fax"})
    assert "query.channel" in fields_of(assert_problem(bad, 422))


async def test_takeover_twice_and_hand_back_without_takeover_conflict_and_are_audited_once(
    client: httpx.AsyncClient, world: World, db: Database, owner_conn: psycopg.Connection
) -> None:
    conversation_id = await web_conversation(db, world.a.id, "v_visitor")
    headers = world.a.user("staff")
    assert_problem(await client.post(f"{API}/conversations/{conversation_id}/handback", headers=headers), 409)
    assert (await client.post(f"{API}/conversations/{conversation_id}/takeover", headers=headers)).is_success
    assert_problem(await client.post(f"{API}/conversations/{conversation_id}/takeover", headers=headers), 409)
    listed = await client.get(f"{API}/conversations", headers=headers, params={"mode": "human"})
    assert [c["id"] for c in listed.json()["items"]] == [str(conversation_id)]
    audited = owner_conn.execute(
        "SELECT action, target_id FROM audit_events WHERE action LIKE 'conversation.%'"
    ).fetchall()
    assert audited == [("conversation.taken_over", str(conversation_id))]


async def test_a_bad_reply_is_refused_naming_the_field_and_sends_nothing(
    client: httpx.AsyncClient, world: World, db: Database, owner_conn: psycopg.Connection
) -> None:
    conversation_id = await web_conversation(db, world.a.id, "v_visitor")
    headers = world.a.user("staff")
    cases = [
        ({}, "body.text"),
        ({"text": ""}, "body.text"),
        ({"text": "x" * 4097}, "body.text"),
        ({"text": "Hi", "variables": {"a": "b"}}, "body.variables"),
        ({"template": "Not A Name"}, "body.template"),
    ]
    for body, field in cases:
        answer = await client.post(
            f"{API}/conversations/{conversation_id}/messages", headers=headers, json=body
        )
        assert field in fields_of(assert_problem(answer, 422)), (body, answer.text)
    template_on_web = await client.post(
        f"{API}/conversations/{conversation_id}/messages", headers=headers, json={"template": "reminder"}
    )
    assert_problem(template_on_web, 409, "conflict")
    assert owner_conn.execute(
        "SELECT count(*) FROM conversation_messages WHERE direction = 'out'"
    ).fetchone() == (0,)
