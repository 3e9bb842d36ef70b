"""API fixtures: the real application (lifespan included) over ASGI, on the real database, and a
world of two tenants with a user of every role and an admin API key each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from smeflow.api import create_app
from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.identity import Principal, add_member, create_api_key, create_user
from smeflow.settings import Settings
from smeflow.tenancy import TenantCreate, create_tenant

PASSWORD = "correct horse battery staple"
ROLES = ("owner", "admin", "staff", "viewer")


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://smeflow.test") as c:
        yield c


@dataclass
class TenantWorld:
    slug: str
    id: uuid.UUID
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    api_key_id: uuid.UUID | None = None

    def user(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def key(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


@dataclass
class World:
    a: TenantWorld
    b: TenantWorld
    operator_token: str


async def make_tenant(db: Database, settings: Settings, slug: str, country: str) -> TenantWorld:
    system = Principal(kind="system", tenant_id=None, role="owner", user_id=None)
    async with db.transaction(DbScope.platform()) as session:
        tenant = await create_tenant(
            session, settings, Actor.system(), TenantCreate(slug=slug, name=slug, country=country)
        )
        world = TenantWorld(slug=slug, id=tenant.id)
        owner = Principal(kind="system", tenant_id=tenant.id, role="owner", user_id=None)
        for role in ROLES:
            member = await add_member(
                session, owner, tenant.id, f"{role}@{slug}.example", role, password=PASSWORD
            )
            world.users[role] = member.user_id
        key, row = await create_api_key(session, owner, tenant.id, "tests", "admin", ["*"])
        world.api_key, world.api_key_id = key, row.id
    del system
    return world


async def login(client: httpx.AsyncClient, email: str, tenant: str | None = None) -> str:
    body = {"email": email, "password": PASSWORD} | ({"tenant": tenant} if tenant else {})
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["tokens"]["access_token"])


@pytest.fixture
async def world(db: Database, settings: Settings, client: httpx.AsyncClient) -> World:
    a = await make_tenant(db, settings, "amani-salon", "KE")
    b = await make_tenant(db, settings, "lagos-clinic", "NG")
    for t in (a, b):
        for role in ROLES:
            t.tokens[role] = await login(client, f"{role}@{t.slug}.example")
    async with db.transaction(DbScope.platform()) as session:
        await create_user(session, "ops@smeflow.example", PASSWORD, "Ops", platform_role="operator")
    return World(a=a, b=b, operator_token=await login(client, "ops@smeflow.example"))
