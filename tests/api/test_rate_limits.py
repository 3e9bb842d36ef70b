"""Request-rate limits over HTTP: per API key, and per tenant (its plan's tier)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import psycopg

from smeflow.api import create_app
from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.identity import create_api_key
from smeflow.settings import Settings

from .conftest import API, TenantWorld, assert_problem, login, make_client, make_tenant, set_password


@asynccontextmanager
async def serving(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an application built with ``settings``."""
    app = create_app(settings, database=db)
    async with app.router.lifespan_context(app), make_client(app) as client:
        yield client


async def second_key(db: Database, tenant: TenantWorld) -> dict[str, str]:
    async with db.transaction(DbScope.tenant(tenant.id)) as session:
        key, _ = await create_api_key(session, Actor.system(), tenant.id, "second", "admin", ["*"])
    return {"X-API-Key": key}


def assert_limited(response: httpx.Response, detail_word: str) -> None:
    body = assert_problem(response, 429, "rate_limited")
    assert detail_word in body["detail"], body
    assert int(response.headers["retry-after"]) >= 1


async def test_api_key_limit(settings: Settings, db: Database) -> None:
    tight = settings.model_copy(update={"api_key_requests_per_second": 1, "api_key_burst": 3})
    tenant = await make_tenant(db, settings, "mombasa-tours", "KE", roles=())
    other_key = await second_key(db, tenant)
    async with serving(tight, db) as client:
        for _ in range(3):
            assert (await client.get(f"{API}/me", headers=tenant.key())).status_code == 200
        assert_limited(await client.get(f"{API}/me", headers=tenant.key()), "API key")
        # the same key sent as a bearer token is the same bucket
        assert_limited(
            await client.get(f"{API}/me", headers={"Authorization": f"Bearer {tenant.api_key}"}), "API key"
        )
        # another key of the same tenant has a bucket of its own
        for _ in range(3):
            assert (await client.get(f"{API}/me", headers=other_key)).status_code == 200


async def test_tenant_limit(settings: Settings, db: Database, owner_conn: psycopg.Connection) -> None:
    tiers = dict(settings.tiers)
    tiers["business"] = tiers["business"].model_copy(update={"requests_per_second": 1, "burst": 3})
    tight = settings.model_copy(update={"tiers": tiers})
    tenant = await make_tenant(db, settings, "mombasa-tours", "KE", roles=("staff",))
    set_password(owner_conn, tenant.email("staff"))
    other_key = await second_key(db, tenant)
    neighbour = await make_tenant(db, settings, "nakuru-farms", "KE", roles=())
    async with serving(tight, db) as client:
        person = {"Authorization": f"Bearer {await login(client, tenant.email('staff'))}"}
        for _ in range(3):
            assert (await client.get(f"{API}/me", headers=tenant.key())).status_code == 200
        # the tenant's plan is used up, whichever of its keys or people asks
        assert_limited(await client.get(f"{API}/me", headers=other_key), "tenant")
        assert_limited(await client.get(f"{API}/me", headers=tenant.key()), "tenant")
        assert_limited(await client.get(f"{API}/me", headers=person), "tenant")
        # another tenant on the same plan is not affected
        for _ in range(3):
            assert (await client.get(f"{API}/me", headers=neighbour.key())).status_code == 200
