"""API fixtures: the real application (lifespan included) over ASGI, on the real database, and a
world of two tenants with a user of every role and an admin API key each.

Speed: argon2 costs ~0.1 s per hash and per check. The world's accounts are created without a
password and then all given one hash computed once per session (as the owner, behind the
application's back); its logins run concurrently.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from smeflow.api import create_app
from smeflow.api._deps import permission_of
from smeflow.api._problems import PROBLEM_JSON
from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.identity import add_member, create_api_key, create_user, hash_password
from smeflow.settings import Settings
from smeflow.tenancy import TenantCreate, create_tenant

PASSWORD = "correct horse battery staple"
ROLES = ("owner", "admin", "staff", "viewer")
API = "/api/v1"


@cache
def password_hash() -> str:
    """One argon2 hash of :data:`PASSWORD`, shared by every account the tests log in with."""
    return hash_password(PASSWORD)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with request-rate limits far above what a test sends (the rate-limit
    tests build their own tight ones)."""
    tiers = {
        name: quota.model_copy(update={"requests_per_second": 10_000.0, "burst": 100_000})
        for name, quota in settings.tiers.items()
    }
    return settings.model_copy(
        update={"tiers": tiers, "api_key_requests_per_second": 10_000.0, "api_key_burst": 100_000}
    )


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=db)
    async with application.router.lifespan_context(application):
        yield application


def make_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://smeflow.test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


@dataclass
class TenantWorld:
    slug: str
    id: uuid.UUID
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    api_key_id: uuid.UUID | None = None

    def email(self, role: str) -> str:
        return f"{role}@{self.slug}.example"

    def user(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def key(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


@dataclass
class World:
    a: TenantWorld
    b: TenantWorld
    operator_token: str
    operator_id: uuid.UUID

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_token}"}


def set_password(owner_conn: psycopg.Connection, *emails: str) -> None:
    """Give these accounts :data:`PASSWORD` (without hashing it again)."""
    owner_conn.execute(
        "UPDATE users SET password_hash = %s WHERE email = ANY(%s)", (password_hash(), list(emails))
    )


async def make_tenant(
    db: Database, settings: Settings, slug: str, country: str, *, roles: tuple[str, ...] = ROLES
) -> TenantWorld:
    """A tenant with a member of each role (no password yet) and an admin API key."""
    async with db.transaction(DbScope.platform()) as session:
        tenant = await create_tenant(
            session,
            settings,
            Actor.system(),
            TenantCreate(slug=slug, name=slug, country=country, tier="business"),
        )
        world = TenantWorld(slug=slug, id=tenant.id)
        for role in roles:
            member = await add_member(session, Actor.system(), tenant.id, world.email(role), role)
            world.users[role] = member.user_id
        key, row = await create_api_key(session, Actor.system(), tenant.id, "tests", "admin", ["*"])
        world.api_key, world.api_key_id = key, row.id
    return world


async def login(client: httpx.AsyncClient, email: str, tenant: str | None = None) -> str:
    """An access token of ``email`` (password :data:`PASSWORD`)."""
    body = {"email": email, "password": PASSWORD} | ({"tenant": tenant} if tenant else {})
    response = await client.post(f"{API}/auth/login", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["tokens"]["access_token"])


@pytest.fixture
async def world(
    db: Database, settings: Settings, client: httpx.AsyncClient, owner_conn: psycopg.Connection
) -> World:
    a = await make_tenant(db, settings, "amani-salon", "KE")
    b = await make_tenant(db, settings, "lagos-clinic", "NG")
    async with db.transaction(DbScope.platform()) as session:
        operator = await create_user(session, "ops@smeflow.example", None, "Ops", platform_role="operator")
    set_password(owner_conn, "ops@smeflow.example", *(t.email(r) for t in (a, b) for r in ROLES))
    seats = [(t, role) for t in (a, b) for role in ROLES]
    *tokens, operator_token = await asyncio.gather(
        *(login(client, t.email(role)) for t, role in seats), login(client, "ops@smeflow.example")
    )
    for (t, role), token in zip(seats, tokens, strict=True):
        t.tokens[role] = token
    return World(a=a, b=b, operator_token=operator_token, operator_id=operator.id)


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` (and ``code``), a request id matching the
    response header, and no stack trace; returns its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["code"], str)
    assert body["code"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body.get("request_id"), f"no request id in {body}"
    assert body["request_id"] == response.headers.get("x-request-id"), "the request id is not echoed"
    if code is not None:
        assert body["code"] == code, body
    for leak in ("Traceback", 'File "', "sqlalchemy", "psycopg", "site-packages"):
        assert leak not in response.text, response.text
    return body


def fields_of(body: dict[str, Any]) -> set[str]:
    """The field names of a problem's ``errors``."""
    return {e["field"] for e in body.get("errors", [])}


def api_routes(app: FastAPI) -> list[tuple[str, str, Dependant]]:
    """Every ``(method, path, dependant)`` of the application's routes under ``/api/v1``."""
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and (route.path or "").startswith(API + "/"):
            for method in sorted(route.methods or ()):
                found.append((method, str(route.path), route.dependant))
    return found


def permissions_of(dependant: Dependant) -> set[str]:
    """The permissions that :func:`smeflow.api._deps.require` dependencies anywhere in the
    dependency tree check."""
    found = set()
    if dependant.call is not None and (permission := permission_of(dependant.call)) is not None:
        found.add(permission)
    for sub in dependant.dependencies:
        found |= permissions_of(sub)
    return found
