"""Webhooks over HTTP: a signed call starts a run a real worker executes; the secret is shown once,
stored sealed and rotated; forged, missing and stale signatures are refused; an Idempotency-Key
starts one run; anything that is not a webhook is one 404; tenants stay apart; bad bodies are
refused; the tenant's rate limit applies. Every refusal stores nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson
import psycopg
from fastapi import FastAPI

from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.engine.runtime import rotate_webhook_secret, sign
from smeflow.engine.workflows import create_workflow, publish
from smeflow.settings import Settings

from .conftest import API, TenantWorld, World, assert_problem, fields_of, make_tenant
from .test_bad_input import nothing_written
from .test_rate_limits import assert_limited, serving
from .test_runs_api import drain, workflow_over_api


def hook_flow(*, secret_required: bool = True, name: str = "Booking hook") -> dict[str, Any]:
    """webhook → end, the run's output echoing the booking it was sent."""
    return {
        "schema_version": 1,
        "name": name,
        "input_schema": {
            "type": "object",
            "properties": {"phone": {"type": "string"}, "amount": {"type": "integer", "minimum": 0}},
            "required": ["phone"],
        },
        "triggers": [{"kind": "webhook", "secret_required": secret_required}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "done", "kind": "end", "config": {"output": {"phone": "input.phone"}}},
        ],
        "edges": [{"from": "start", "to": "done"}],
    }


async def make_secret(client: httpx.AsyncClient, t: TenantWorld, workflow_id: str) -> str:
    response = await client.post(f"{API}/workflows/{workflow_id}/webhook-secret", headers=t.user("admin"))
    assert response.status_code == 200, response.text
    return str(response.json()["secret"])


async def hooked(client: httpx.AsyncClient, t: TenantWorld, definition: dict[str, Any]) -> tuple[str, str]:
    """A published webhook workflow of ``t`` and its secret."""
    workflow_id = await workflow_over_api(client, t.user("admin"), definition)
    return workflow_id, await make_secret(client, t, workflow_id)


def signed(secret: str, body: bytes, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "Content-Type": "application/json",
        "X-SMEFlow-Timestamp": str(stamp),
        "X-SMEFlow-Signature": sign(secret, stamp, body),
    }


async def call(
    client: httpx.AsyncClient, slug: str, ref: str, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(f"{API}/hooks/{slug}/{ref}", content=body, headers=headers or {})


BOOKING = orjson.dumps({"phone": "+254700000001", "amount": 1500})


async def test_a_signed_call_starts_a_run_that_a_worker_executes(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    workflow_id, secret = await hooked(client, world.a, hook_flow())
    response = await call(client, world.a.slug, workflow_id, BOOKING, signed(secret, BOOKING))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    run_id = response.json()["run_id"]
    await drain(app)
    run = (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()
    assert (run["status"], run["output"], run["created_by"]) == (
        "succeeded",
        {"phone": "+254700000001"},
        "webhook:signed",
    )
    assert run["input"] == {"phone": "+254700000001", "amount": 1500}
    audit = await client.get(
        f"{API}/audit/events", headers=world.a.user("admin"), params={"target_id": run_id}
    )
    started = next(e for e in audit.json()["items"] if e["action"] == "run.started")
    assert (started["actor_type"], started["actor_id"]) == ("system", "webhook")
    assert started["data"]["trigger"] == "webhook"

    # the workflow's name works as well as its id (URL-encoded)
    by_name = await call(client, world.a.slug, "Booking%20hook", BOOKING, signed(secret, BOOKING))
    assert by_name.status_code == 202, by_name.text
    assert by_name.json()["run_id"] != run_id


async def test_the_secret_is_shown_once_stored_sealed_and_rotated(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    workflow_id = await workflow_over_api(client, admin, hook_flow())
    made = await client.post(f"{API}/workflows/{workflow_id}/webhook-secret", headers=admin)
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    body = made.json()
    first = body["secret"]
    assert first.startswith("whsec_")
    assert len(first) > 40
    assert body["url"].endswith(f"/api/v1/hooks/{world.a.slug}/{workflow_id}")
    rows = owner_conn.execute("SELECT sealed FROM webhook_secrets").fetchall()
    assert len(rows) == 1
    sealed = bytes(rows[0][0])
    assert first.encode() not in sealed
    assert first[6:20].encode() not in sealed
    # nowhere else to read it: not in the workflow, not in the audit log
    shown = await client.get(f"{API}/workflows/{workflow_id}", headers=admin)
    assert first not in shown.text
    audit = await client.get(f"{API}/audit/events", headers=admin, params={"target_id": workflow_id})
    assert first not in audit.text
    rotations = [e for e in audit.json()["items"] if e["action"] == "workflow.webhook_secret_rotated"]
    assert [e["data"] for e in rotations] == [{"first": True}]

    rotated = await client.post(f"{API}/workflows/{workflow_id}/webhook-secret", headers=admin)
    second = rotated.json()["secret"]
    assert second != first
    old = await call(client, world.a.slug, workflow_id, BOOKING, signed(first, BOOKING))
    assert_problem(old, 401, "signature_invalid")
    new = await call(client, world.a.slug, workflow_id, BOOKING, signed(second, BOOKING))
    assert new.status_code == 202, new.text

    # refused: an unknown workflow (404), an archived one (409); nothing written
    archived = await workflow_over_api(client, admin, hook_flow(name="Old hook"))
    assert (await client.post(f"{API}/workflows/{archived}/archive", headers=admin)).status_code == 200
    with nothing_written(owner_conn):
        assert_problem(
            await client.post(f"{API}/workflows/{uuid.uuid4()}/webhook-secret", headers=admin),
            404,
            "not_found",
        )
        body = assert_problem(
            await client.post(f"{API}/workflows/{archived}/webhook-secret", headers=admin), 409, "conflict"
        )
        assert "archived" in body["detail"]
        assert_problem(
            await client.post(f"{API}/workflows/not-a-uuid/webhook-secret", headers=admin),
            422,
            "validation_failed",
        )


async def test_forged_missing_and_stale_signatures_are_401_and_store_nothing(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    unsigned_yet = await workflow_over_api(client, admin, hook_flow(name="No secret yet"))
    workflow_id, secret = await hooked(client, world.a, hook_flow())
    now = int(time.time())
    other = orjson.dumps({"phone": "+254700000009", "amount": 1})
    forged = "whsec_" + "A" * 43
    attempts: list[tuple[str, dict[str, str], str]] = [
        ("forged secret", signed(forged, BOOKING), "does not match"),
        ("another body's signature", signed(secret, other), "does not match"),
        ("no headers", {"Content-Type": "application/json"}, "X-SMEFlow-Signature"),
        ("no signature", {"X-SMEFlow-Timestamp": str(now)}, "X-SMEFlow-Signature"),
        ("no timestamp", {"X-SMEFlow-Signature": sign(secret, now, BOOKING)}, "X-SMEFlow-Timestamp"),
        ("stale", signed(secret, BOOKING, now - 6 * 60), "5 minutes"),
        ("from the future", signed(secret, BOOKING, now + 6 * 60), "5 minutes"),
        ("not a time", signed(secret, BOOKING) | {"X-SMEFlow-Timestamp": "yesterday"}, "Unix seconds"),
        ("another scheme", signed(secret, BOOKING) | {"X-SMEFlow-Signature": "sha1=abc"}, "does not match"),
        (
            "signed with another timestamp",
            signed(secret, BOOKING) | {"X-SMEFlow-Timestamp": str(now - 1)},
            "does not match",
        ),
    ]
    with nothing_written(owner_conn):
        for name, headers, words in attempts:
            response = await call(client, world.a.slug, workflow_id, BOOKING, headers)
            body = assert_problem(response, 401, "signature_invalid")
            assert words in body["detail"], (name, body)
        # a workflow whose secret was never made takes no call at all
        response = await call(client, world.a.slug, unsigned_yet, BOOKING, signed(secret, BOOKING))
        body = assert_problem(response, 401, "signature_invalid")
        assert "secret has not been made" in body["detail"]
        # the signature is checked before the body is read: a bad body unsigned is still 401
        assert_problem(await call(client, world.a.slug, workflow_id, b"{nope"), 401, "signature_invalid")
    # within the 5 minutes it is fine
    late = await call(client, world.a.slug, workflow_id, BOOKING, signed(secret, BOOKING, now - 4 * 60))
    assert late.status_code == 202, late.text


def runs_count(owner_conn: psycopg.Connection) -> int:
    row = owner_conn.execute("SELECT count(*) FROM runs").fetchone()
    assert row is not None
    return int(row[0])


async def test_an_idempotency_key_starts_one_run(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    workflow_id, secret = await hooked(client, world.a, hook_flow())
    a = world.a.slug

    async def send(key: str | bytes) -> httpx.Response:
        headers: dict[str, Any] = signed(secret, BOOKING) | {"Idempotency-Key": key}
        return await client.post(f"{API}/hooks/{a}/{workflow_id}", content=BOOKING, headers=headers)

    first = await send("order-1001")
    assert first.status_code == 202, first.text
    again = await send("order-1001")
    assert again.status_code == 200, again.text
    assert again.json() == {"run_id": first.json()["run_id"], "status": "queued"}
    assert runs_count(owner_conn) == 1

    racing = await asyncio.gather(*(send("order-1002") for _ in range(4)))
    assert sorted(r.status_code for r in racing) == [200, 200, 200, 202]
    assert len({r.json()["run_id"] for r in racing}) == 1
    assert runs_count(owner_conn) == 2

    # a day later the key is free again
    owner_conn.execute("UPDATE trigger_keys SET created_at = created_at - interval '25 hours'")
    later = await send("order-1001")
    assert later.status_code == 202, later.text
    assert later.json()["run_id"] != first.json()["run_id"]
    assert runs_count(owner_conn) == 3

    with nothing_written(owner_conn):
        for bad in ("x" * 256, "naïve".encode(), "tab\there"):
            body = assert_problem(await send(bad), 422, "validation_failed")
            assert fields_of(body) == {"header.Idempotency-Key"}


async def test_anything_but_a_webhook_is_the_same_404(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    live, secret = await hooked(client, world.a, hook_flow())
    draft = await workflow_over_api(client, admin, hook_flow(name="Draft hook"), publish=False)
    manual = hook_flow(name="Manual only") | {"triggers": [{"kind": "manual"}]}
    manual_id = await workflow_over_api(client, admin, manual)
    archived = await workflow_over_api(client, admin, hook_flow(name="Archived hook"))
    await client.post(f"{API}/workflows/{archived}/archive", headers=admin)
    dropped = await workflow_over_api(client, admin, hook_flow(name="Dropped hook"))
    changed = hook_flow(name="Dropped hook") | {"triggers": [{"kind": "manual"}]}
    await client.patch(f"{API}/workflows/{dropped}", headers=admin, json={"definition": changed})
    await client.post(f"{API}/workflows/{dropped}/publish", headers=admin)  # v2 has no webhook
    owner_conn.execute(
        "INSERT INTO tenants SELECT gen_random_uuid(), 'shut-shop', name, region, country, currency,"
        " default_locale, timezone, tier, residency, 'suspended', created_at, updated_at"
        " FROM tenants WHERE id = %s",
        (world.a.id,),
    )
    targets = [
        ("no-such-tenant", live),
        ("shut-shop", live),
        (world.a.slug, str(uuid.uuid4())),
        (world.a.slug, "No such name"),
        (world.a.slug, draft),
        (world.a.slug, manual_id),
        (world.a.slug, archived),
        (world.a.slug, dropped),
        (world.a.slug, "Dropped hook"),
    ]
    details = set()
    with nothing_written(owner_conn):
        for slug, ref in targets:
            response = await call(client, slug, ref, BOOKING, signed(secret, BOOKING))
            details.add(assert_problem(response, 404, "not_found")["detail"])
    assert details == {"No such webhook"}


async def test_one_tenants_secret_never_starts_another_tenants_workflow(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    a_workflow, a_secret = await hooked(client, world.a, hook_flow())
    b_workflow, b_secret = await hooked(client, world.b, hook_flow())
    with nothing_written(owner_conn):
        # B's webhook signed with A's secret
        response = await call(client, world.b.slug, b_workflow, BOOKING, signed(a_secret, BOOKING))
        assert_problem(response, 401, "signature_invalid")
        # B's workflow named under A's slug (and the other way round), even signed with its own secret
        response = await call(client, world.a.slug, b_workflow, BOOKING, signed(b_secret, BOOKING))
        assert_problem(response, 404, "not_found")
        response = await call(client, world.b.slug, a_workflow, BOOKING, signed(a_secret, BOOKING))
        assert_problem(response, 404, "not_found")
    ok = await call(client, world.b.slug, b_workflow, BOOKING, signed(b_secret, BOOKING))
    assert ok.status_code == 202, ok.text
    b_runs = (await client.get(f"{API}/runs", headers=world.b.user("viewer"))).json()["items"]
    assert [r["id"] for r in b_runs] == [ok.json()["run_id"]]
    assert (await client.get(f"{API}/runs", headers=world.a.user("viewer"))).json()["items"] == []


async def test_bad_bodies_are_refused_and_store_nothing(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection, settings: Settings
) -> None:
    workflow_id, secret = await hooked(client, world.a, hook_flow())
    a = world.a.slug
    too_big = b'{"phone": "' + b"9" * settings.max_body_bytes + b'"}'
    cases: list[tuple[bytes, int, str, set[str]]] = [
        (b"{not json", 400, "malformed_request", {"body"}),
        (b'{"phone": "+2547"', 400, "malformed_request", {"body"}),
        (b"[1, 2]", 422, "validation_failed", {"body"}),
        (b'"+254700000001"', 422, "validation_failed", {"body"}),
        (b'{"phone": "a\\u0000b"}', 422, "validation_failed", {"body.phone"}),
        (b'{"amount": -1}', 422, "validation_failed", {"input.phone", "input.amount"}),
        (
            b'{"phone": 254700000001, "amount": "lots"}',
            422,
            "validation_failed",
            {"input.phone", "input.amount"},
        ),
        (b"", 422, "validation_failed", {"input.phone"}),  # an empty body is {}
    ]
    with nothing_written(owner_conn):
        for body, status, code, fields in cases:
            response = await call(client, a, workflow_id, body, signed(secret, body))
            problem = assert_problem(response, status, code)
            assert fields_of(problem) == fields, (body, problem)
        response = await call(client, a, workflow_id, too_big, signed(secret, too_big))
        assert_problem(response, 413, "payload_too_large")
    schema = await call(client, a, workflow_id, b'{"amount": -1}', signed(secret, b'{"amount": -1}'))
    messages = {e["field"]: e["message"] for e in schema.json()["errors"]}
    assert messages == {"input.phone": "is required", "input.amount": "must be at least 0"}


async def test_a_webhook_without_a_required_secret_takes_unsigned_calls(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    open_flow = hook_flow(secret_required=False)
    open_flow["input_schema"] = {"type": "object"}
    open_flow["nodes"][1]["config"] = {"output": {"ok": "true"}}
    workflow_id = await workflow_over_api(client, world.a.user("admin"), open_flow)
    response = await call(client, world.a.slug, workflow_id, b"")
    assert response.status_code == 202, response.text
    await drain(app)
    run = (await client.get(f"{API}/runs/{response.json()['run_id']}", headers=world.a.user("viewer"))).json()
    assert (run["input"], run["created_by"], run["status"]) == ({}, "webhook:unsigned", "succeeded")


async def test_the_tenants_rate_limit_applies(
    settings: Settings, db: Database, owner_conn: psycopg.Connection
) -> None:
    tiers = {
        "business": settings.tier("business").model_copy(update={"requests_per_second": 0.001, "burst": 2})
    }
    tight = settings.model_copy(update={"tiers": tiers})
    async with serving(tight, db) as client:
        t = await make_tenant(db, tight, "amani-salon", "KE", roles=())
        async with db.transaction(DbScope.tenant(t.id)) as session:
            workflow, _ = await create_workflow(session, Actor.system(), t.id, "Hook", hook_flow())
            await publish(session, Actor.system(), t.id, workflow.id)
            secret, _ = await rotate_webhook_secret(session, tight, Actor.system(), t.id, workflow.id)
        for _ in range(2):
            response = await call(client, t.slug, str(workflow.id), BOOKING, signed(secret, BOOKING))
            assert response.status_code == 202, response.text
        with nothing_written(owner_conn):
            response = await call(client, t.slug, str(workflow.id), BOOKING, signed(secret, BOOKING))
            assert_limited(response, "tenant")
        # what is not the tenant's own call is refused as such, not counted against its rate
        assert_problem(await call(client, t.slug, str(uuid.uuid4()), BOOKING), 404, "not_found")
        forged = signed("whsec_" + "A" * 43, BOOKING)
        assert_problem(
            await call(client, t.slug, str(workflow.id), BOOKING, forged), 401, "signature_invalid"
        )
