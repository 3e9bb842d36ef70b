"""The API's basics: health, the OpenAPI document and docs, request ids, pagination, the
operator's tenant creation, and the audit trail of changes."""

from __future__ import annotations

import itertools
import re

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.identity import create_api_key
from smeflow.settings import Settings
from smeflow.tenancy import TenantCreate, create_tenant

from .conftest import API, PASSWORD, ROLES, World, api_routes, assert_problem


async def test_health(client: httpx.AsyncClient) -> None:
    live = await client.get("/healthz")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_openapi_and_docs(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "SMEFlow API"
    for method, path, _ in api_routes(app):
        assert method.lower() in document["paths"][path], f"{method} {path} is not documented"
    # every operation has a summary, and the credentials are documented as security schemes
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path} has no summary"
    schemes = document["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)
    login = document["paths"][f"{API}/auth/login"]["post"]
    assert "security" not in login

    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text


async def test_request_ids(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert (await client.get("/healthz")).headers["x-request-id"] != generated.headers["x-request-id"]

    kept = await client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.42:1"})
    assert kept.headers["x-request-id"] == "edge-7f3a.42:1"
    for insane in (b"has spaces", b"x" * 65, b"semi;colon", b"<script>", "ünïcode".encode(), b""):
        response = await client.get("/healthz", headers={b"X-Request-ID": insane})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), insane
    # the id is in the problem body too, so a user can quote it
    problem = assert_problem(await client.get(f"{API}/me", headers={"X-Request-ID": "trace-1"}), 401)
    assert problem["request_id"] == "trace-1"
    missing = await client.get(f"{API}/no-such-thing")
    assert assert_problem(missing, 404, "not_found")["instance"] == f"{API}/no-such-thing"
    wrong_method = await client.put(f"{API}/users")
    assert_problem(wrong_method, 405, "method_not_allowed")


async def test_cursor_pagination_walks_every_member_once(client: httpx.AsyncClient, world: World) -> None:
    admin = world.a.user("admin")
    for n in range(5):
        response = await client.post(
            f"{API}/users", headers=admin, json={"email": f"member{n}@amani-salon.example", "role": "viewer"}
        )
        assert response.status_code == 201, response.text
    expected = {world.a.email(r) for r in ROLES} | {f"member{n}@amani-salon.example" for n in range(5)}

    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(f"{API}/users", params=params, headers=admin)
        assert response.status_code == 200, response.text
        page = response.json()
        assert 1 <= len(page["items"]) <= 2
        seen += [m["email"] for m in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 20, "the cursor does not advance"
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == expected
    assert pages == 5  # 9 members, 2 a page

    everyone = (await client.get(f"{API}/users", params={"limit": 200}, headers=admin)).json()
    assert everyone["next_cursor"] is None
    assert len(everyone["items"]) == 9


async def test_operator_creates_a_tenant_whose_owner_can_log_in(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {
        "slug": "cape-bakery",
        "name": "Cape Bakery",
        "country": "za",
        "tier": "starter",
        "owner": {"email": "Thandi@Cape-Bakery.example", "password": PASSWORD, "full_name": "Thandi"},
    }
    response = await client.post(f"{API}/tenants", json=body, headers=world.operator())
    assert response.status_code == 201, response.text
    tenant = response.json()
    assert (tenant["slug"], tenant["country"], tenant["currency"], tenant["timezone"]) == (
        "cape-bakery",
        "ZA",
        "ZAR",
        "Africa/Johannesburg",
    )
    assert tenant["tier"] == "starter"
    assert tenant["status"] == "active"

    fetched = await client.get(f"{API}/tenants/{tenant['id']}", headers=world.operator())
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Cape Bakery"
    listed = (await client.get(f"{API}/tenants", headers=world.operator())).json()["items"]
    assert {t["slug"] for t in listed} == {"amani-salon", "cape-bakery", "lagos-clinic"}

    login = await client.post(
        f"{API}/auth/login", json={"email": "thandi@cape-bakery.example", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()["tokens"]
    assert tokens["tenant_id"] == tenant["id"]
    assert tokens["role"] == "owner"
    owner = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = (await client.get(f"{API}/me", headers=owner)).json()
    assert me["tenant"]["slug"] == "cape-bakery"
    assert me["user"]["full_name"] == "Thandi"

    events = (await client.get(f"{API}/audit/events", headers=owner)).json()["items"]
    actions = [e["action"] for e in reversed(events)]
    assert actions[:3] == ["tenant.created", "user.created", "membership.created"]
    assert events[-1]["actor_type"] == "operator"
    assert events[-1]["actor_id"] == str(world.operator_id)
    verify = (await client.get(f"{API}/audit/verify", headers=owner)).json()
    assert verify["ok"] is True
    assert verify["events_checked"] == len(events)


async def test_tenant_changes_are_audited_and_the_chain_verifies(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = world.a.user("admin")
    response = await client.patch(
        f"{API}/tenant",
        headers=admin | {"X-Request-ID": "rename-1"},
        json={"name": "Amani Salon & Spa", "timezone": "Africa/Kampala"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Amani Salon & Spa"
    assert (await client.get(f"{API}/tenant", headers=world.a.user("viewer"))).json()[
        "timezone"
    ] == "Africa/Kampala"

    operator = await client.patch(
        f"{API}/tenants/{world.a.id}", headers=world.operator(), json={"tier": "enterprise"}
    )
    assert operator.status_code == 200
    assert operator.json()["tier"] == "enterprise"
    # a PATCH that changes nothing records nothing
    same = await client.patch(f"{API}/tenant", headers=admin, json={"name": "Amani Salon & Spa"})
    assert same.status_code == 200

    events = (
        await client.get(f"{API}/audit/events", params={"action": "tenant.updated"}, headers=admin)
    ).json()["items"]
    assert len(events) == 2
    by_operator, by_admin = events  # newest first
    assert by_admin["actor_type"] == "user"
    assert by_admin["actor_id"] == str(world.a.users["admin"])
    assert by_admin["request_id"] == "rename-1"
    assert by_admin["data"]["name"] == {"from": world.a.slug, "to": "Amani Salon & Spa"}
    assert by_admin["data"]["timezone"]["to"] == "Africa/Kampala"
    assert by_operator["actor_type"] == "operator"
    assert by_operator["data"]["tier"] == {"from": "business", "to": "enterprise"}
    verify = await client.get(f"{API}/audit/verify", headers=admin)
    assert verify.status_code == 200
    assert verify.json()["ok"] is True
    assert verify.json()["broken_seq"] is None
    # B's chain is its own, and fine too
    assert (await client.get(f"{API}/audit/verify", headers=world.b.key())).json()["ok"] is True


async def test_audit_events_newest_first_across_pages(client: httpx.AsyncClient, world: World) -> None:
    admin = world.a.user("admin")
    for n in range(3):
        response = await client.patch(f"{API}/tenant", headers=admin, json={"name": f"Amani {n}"})
        assert response.status_code == 200
    everything = (await client.get(f"{API}/audit/events", params={"limit": 200}, headers=admin)).json()
    seqs = [e["seq"] for e in everything["items"]]
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) == len(set(seqs))
    assert seqs[0] == max(seqs)
    assert seqs[-1] == 1
    assert everything["items"][0]["data"]["name"]["to"] == "Amani 2"
    occurred = [e["occurred_at"] for e in everything["items"]]
    assert occurred == sorted(occurred, reverse=True)

    walked: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{API}/audit/events", params=params, headers=admin)).json()
        walked += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == seqs
    # every event is A's, and links to the one before it
    items = everything["items"]
    assert {e["tenant_id"] for e in items} == {str(world.a.id)}
    for newer, older in itertools.pairwise(items):
        assert newer["prev_hash"] == older["hash"]


async def test_an_unexpected_error_is_a_problem_with_the_request_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A bug answers 500 problem+json carrying the request id (the detail asks the user to quote
    it) and nothing of the exception."""

    async def broken() -> None:
        raise RuntimeError("secret internals: password=hunter2 at /srv/smeflow/app.py")

    app.add_api_route("/test-only/broken", broken)
    response = await client.get("/test-only/broken", headers={"X-Request-ID": "bug-report-1"})
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "bug-report-1"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text


async def test_plan_quotas_limit_members_and_keys(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    """A free-tier tenant gets the free tier's member and API key limits, with a clear error."""
    free = settings.tier("free")
    async with db.transaction(DbScope.platform()) as session:
        tenant = await create_tenant(
            session, settings, Actor.system(), TenantCreate(slug="tiny-shop", name="Tiny", country="KE")
        )
        key, _ = await create_api_key(session, Actor.system(), tenant.id, "setup", "owner", ["*"])
    headers = {"X-API-Key": key}
    for i in range(free.max_users):
        response = await client.post(
            "/api/v1/users", headers=headers, json={"email": f"s{i}@tiny.example", "role": "staff"}
        )
        assert response.status_code == 201, response.text
    refused = await client.post(
        "/api/v1/users", headers=headers, json={"email": "extra@tiny.example", "role": "staff"}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "quota_exceeded"
    for i in range(free.max_api_keys - 1):  # the setup key is live too
        response = await client.post("/api/v1/api-keys", headers=headers, json={"name": f"k{i}"})
        assert response.status_code == 201, response.text
    refused = await client.post("/api/v1/api-keys", headers=headers, json={"name": "one too many"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "quota_exceeded"
    async with db.transaction(DbScope.tenant(tenant.id)) as session:
        members = (await session.execute(text("SELECT count(*) FROM memberships"))).scalar_one()
        keys = (await session.execute(text("SELECT count(*) FROM api_keys"))).scalar_one()
    assert (members, keys) == (free.max_users, free.max_api_keys)
