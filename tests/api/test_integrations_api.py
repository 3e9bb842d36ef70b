"""Connectors and integrations over HTTP: what the builder reads, bad input named field by field,
and credentials never in an answer, a log line or the audit log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from integrations.kit import BAD_KEY, GOOD_KEY, GOOD_SECRET, ping_body, provider, registry
from smeflow.api import create_app
from smeflow.db import Database
from smeflow.settings import Settings

from .conftest import API, World, assert_problem, fields_of, make_client

SECRETS = (GOOD_KEY, BAD_KEY, GOOD_SECRET, "another-key-1234")


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    """The application with the test connectors registered."""
    application = create_app(settings, database=db, connectors=registry())
    async with application.router.lifespan_context(application):
        yield application


def assert_no_secret(response: httpx.Response, *also: str) -> None:
    for secret in (*SECRETS, *also):
        assert secret not in response.text, (
            f"{response.request.method} {response.request.url.path} shows a secret"
        )
    for masked in ("**********", "***"):
        assert masked not in response.text, "not even masked"


async def test_connectors_say_what_each_declares(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"{API}/connectors", headers=world.a.user("viewer"))
    assert response.status_code == 200, response.text
    connectors = {c["key"]: c for c in response.json()["connectors"]}
    assert sorted(connectors) == ["ping", "signed"]
    ping = connectors["ping"]
    assert (ping["version"], ping["title"], ping["countries"]) == ("1.2.0", "Ping", ["KE", "NG"])
    assert (ping["webhook_auth"], ping["webhook_events"]) == ("token", ["message.received"])
    assert ping["credentials_schema"]["properties"]["api_key"]["writeOnly"] is True
    assert ping["credentials_schema"]["required"] == ["api_key"]
    assert set(ping["config_schema"]["properties"]) == {"base_url", "account", "region"}
    (send,) = ping["actions"]
    assert (send["name"], send["title"], send["effect"]) == ("ping.send", "Send a ping", "write")
    assert send["description"].startswith("Send a short text message")
    assert set(send["input_schema"]["properties"]) == {"to", "text"}
    assert send["output_schema"]["properties"]["message_id"]["type"] == "string"
    assert connectors["signed"]["webhook_auth"] == "signature"
    assert connectors["signed"]["actions"] == []


async def test_bad_config_and_credentials_name_each_field_and_write_nothing(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    body = {
        "connector": "ping",
        "name": "Till",
        "config": {"account": "12", "region": "za", "colour": "red"},
        "credentials": {"api_key": "sk_9z7Q", "pin": "0000"},
    }
    response = await client.post(f"{API}/integrations", headers=admin, json=body)
    problem = assert_problem(response, 422, "validation_failed")
    assert fields_of(problem) == {
        "body.config.account",
        "body.config.region",
        "body.config.colour",
        "body.credentials.api_key",
        "body.credentials.pin",
    }
    assert "sk_9z7Q" not in response.text
    unknown = await client.post(
        f"{API}/integrations", headers=admin, json=ping_body() | {"connector": "nope"}
    )
    assert fields_of(assert_problem(unknown, 422)) == {"body.connector"}
    not_object = await client.post(
        f"{API}/integrations", headers=admin, json=ping_body() | {"credentials": "x"}
    )
    assert fields_of(assert_problem(not_object, 422)) == {"body.credentials"}
    ips = await client.post(
        f"{API}/integrations", headers=admin, json=ping_body() | {"allowed_ips": ["nope"]}
    )
    assert fields_of(assert_problem(ips, 422)) == {"body.allowed_ips"}
    assert owner_conn.execute("SELECT count(*) FROM integrations").fetchone() == (0,)
    assert owner_conn.execute(
        "SELECT count(*) FROM audit_events WHERE action LIKE 'integration.%'"
    ).fetchone() == (0,)
    listed = await client.get(f"{API}/integrations", headers=admin)
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_credentials_are_in_no_answer_no_log_and_no_audit_record(
    client: httpx.AsyncClient,
    world: World,
    owner_conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin, viewer = world.a.user("admin"), world.a.user("viewer")
    answers: list[httpx.Response] = []
    with provider() as running:
        created = await client.post(
            f"{API}/integrations", headers=admin, json=ping_body(base_url=running.url)
        )
        assert created.status_code == 201, created.text
        answers.append(created)
        shown = created.json()
        integration_id = shown["id"]
        assert shown["credentials_set"] == ["api_key"]
        assert shown["credentials_readable"] is True
        assert "credentials" not in shown
        url = shown["webhook_url"]
        prefix = f"http://smeflow.test/api/v1/webhooks/ping/{integration_id}/"
        assert url.startswith(prefix)
        token = url.removeprefix(prefix)
        assert len(token) >= 32
        signed = await client.post(
            f"{API}/integrations",
            headers=admin,
            json={"connector": "signed", "name": "Shop", "credentials": {"secret_key": GOOD_SECRET}},
        )
        assert signed.status_code == 201, signed.text
        assert f"/api/v1/webhooks/sgn/{signed.json()['id']}/" in signed.json()["webhook_url"], "its segment"
        answers.append(signed)
        answers.append(await client.get(f"{API}/integrations", headers=viewer))
        answers.append(await client.get(f"{API}/integrations/{integration_id}", headers=viewer))
        answers.append(await client.get(f"{API}/connectors", headers=viewer))
        checked = await client.post(f"{API}/integrations/{integration_id}/check", headers=admin)
        answers.append(checked)
        assert checked.json()["ok"] is True, checked.text
        patched = await client.patch(
            f"{API}/integrations/{integration_id}",
            headers=admin,
            json={"credentials": {"api_key": BAD_KEY, "username": "amani"}},
        )
        answers.append(patched)
        assert patched.status_code == 200, patched.text
        assert patched.json()["credentials_set"] == ["api_key", "username"]
        assert patched.json()["webhook_url"] == url, "new credentials keep the webhook URL"
        refused = await client.post(f"{API}/integrations/{integration_id}/check", headers=admin)
        answers.append(refused)
        assert refused.status_code == 200, refused.text
        assert refused.json()["ok"] is False
        assert refused.json()["error"] == "the provider refused the API key"
        assert refused.json()["error_code"] == "connector_auth_failed"
        bad_patch = await client.patch(
            f"{API}/integrations/{integration_id}",
            headers=admin,
            json={"credentials": {"api_key": "another-key-1234", "x": 1}},
        )
        answers.append(bad_patch)
        assert fields_of(assert_problem(bad_patch, 422)) == {"body.credentials.x"}
        one = await client.get(f"{API}/integrations/{integration_id}", headers=viewer)
        answers.append(one)
        assert one.json()["check_error"] == "the provider refused the API key"
        assert one.json()["checked_at"] == refused.json()["checked_at"]
        deleted = await client.delete(f"{API}/integrations/{integration_id}", headers=admin)
        assert deleted.status_code == 204
        answers.append(deleted)
        gone = await client.get(f"{API}/integrations/{integration_id}", headers=viewer)
        assert_problem(gone, 404, "not_found")
        answers.append(gone)
    assert [path for path, _ in running.calls] == ["/me", "/me"]
    for answer in answers:
        assert_no_secret(answer)
    assert "another-key-1234" not in caplog.text
    for secret in (*SECRETS, token):
        assert secret not in caplog.text, "a secret is in the logs"
        for record in caplog.records:
            assert secret not in str(record.args), "a secret is in a log record's arguments"
    audit = owner_conn.execute(
        "SELECT action, data::text FROM audit_events WHERE tenant_id = %s ORDER BY seq", (world.a.id,)
    )
    rows = audit.fetchall()
    assert [a for a, _ in rows if a.startswith("integration.")] == [
        "integration.created",
        "integration.created",
        "integration.updated",
        "integration.deleted",
    ]
    for _, data in rows:
        for secret in (*SECRETS, token):
            assert secret not in data, "a secret is in the audit log"


async def test_the_webhook_url_is_on_the_public_url_when_one_is_set(
    settings: Settings, db: Database, world: World
) -> None:
    public = settings.model_copy(update={"public_url": "https://flow.example.com/"})
    application = create_app(public, database=db, connectors=registry())
    async with application.router.lifespan_context(application), make_client(application) as client:
        created = await client.post(f"{API}/integrations", headers=world.a.user("owner"), json=ping_body())
        assert created.status_code == 201, created.text
        integration_id = created.json()["id"]
        assert created.json()["webhook_url"].startswith(
            f"https://flow.example.com/api/v1/webhooks/ping/{integration_id}/"
        )
        listed = await client.get(f"{API}/integrations", headers=world.a.user("viewer"))
        assert [i["webhook_url"] for i in listed.json()["items"]] == [created.json()["webhook_url"]]


async def test_members_read_and_admins_write(client: httpx.AsyncClient, world: World) -> None:
    a = world.a
    created = await client.post(f"{API}/integrations", headers=a.key(), json=ping_body())
    assert created.status_code == 201, created.text
    path = f"{API}/integrations/{created.json()['id']}"
    for role in ("viewer", "staff"):
        assert (await client.get(path, headers=a.user(role))).status_code == 200
        refused = [
            await client.post(f"{API}/integrations", headers=a.user(role), json=ping_body("Other")),
            await client.patch(path, headers=a.user(role), json={"status": "disabled"}),
            await client.delete(path, headers=a.user(role)),
            await client.post(f"{path}/check", headers=a.user(role)),
        ]
        for response in refused:
            assert_problem(response, 403, "permission_denied")
    disabled = await client.patch(
        path, headers=a.user("admin"), json={"status": "disabled", "name": "Old till"}
    )
    assert (disabled.json()["status"], disabled.json()["name"]) == ("disabled", "Old till")
    duplicate = await client.post(f"{API}/integrations", headers=a.user("owner"), json=ping_body("Old till"))
    assert fields_of(assert_problem(duplicate, 409, "conflict")) == {"body.name"}


async def test_the_list_is_paginated_by_name(client: httpx.AsyncClient, world: World) -> None:
    admin = world.a.user("admin")
    for name in ("Cedar", "Acacia", "Baobab"):
        response = await client.post(f"{API}/integrations", headers=admin, json=ping_body(name))
        assert response.status_code == 201, response.text
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await client.get(f"{API}/integrations", headers=admin, params=params)
        assert page.status_code == 200, page.text
        seen += [i["name"] for i in page.json()["items"]]
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert seen == ["Acacia", "Baobab", "Cedar"]
    only = await client.get(f"{API}/integrations", headers=admin, params={"connector": "signed"})
    assert only.json()["items"] == []
    bad = await client.get(f"{API}/integrations", headers=admin, params={"cursor": "!!"})
    assert fields_of(assert_problem(bad, 422)) == {"query.cursor"}


async def test_a_check_calls_no_private_address_unless_the_operator_allows_it(
    settings: Settings, db: Database, world: World
) -> None:
    """The connector's base URL is the tenant's to set: the check goes through the runtime's
    SSRF-guarded client, so a loopback provider is refused when private networks are not allowed."""
    guarded = settings.model_copy(update={"http_allow_private_networks": False})
    application = create_app(guarded, database=db, connectors=registry())
    with provider() as running:
        async with application.router.lifespan_context(application), make_client(application) as client:
            admin = world.a.user("admin")
            created = await client.post(
                f"{API}/integrations", headers=admin, json=ping_body(base_url=running.url)
            )
            assert created.status_code == 201, created.text
            checked = await client.post(f"{API}/integrations/{created.json()['id']}/check", headers=admin)
    assert checked.status_code == 200, checked.text
    assert (checked.json()["ok"], checked.json()["error_code"]) == (False, "connector_unavailable")
    assert "BlockedDestination" in checked.json()["error"]
    assert running.calls == [], "the provider on loopback was never called"
