"""Integration rows for the tests (sealed as the product seals them) and small waiting helpers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from smeflow.core import new_id, new_token
from smeflow.db import Database, DbScope
from smeflow.integrations._vault import Vault
from smeflow.integrations.models import Integration
from smeflow.settings import Settings

DEADLINE = 60.0  # seconds: generous, never reached when things work
PAYSTACK_SECRET = "sk_test_0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Hooked:
    """An integration and its webhook address."""

    tenant_id: uuid.UUID
    id: uuid.UUID
    connector: str
    token: str

    @property
    def path(self) -> str:
        return f"/api/v1/webhooks/{self.connector}/{self.id}/{self.token}"


async def add_integration(
    db: Database,
    settings: Settings,
    tenant_id: uuid.UUID,
    connector: str,
    *,
    credentials: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    allowed_ips: list[str] | None = None,
    status: str = "active",
    name: str | None = None,
) -> Hooked:
    """A stored integration of ``tenant_id`` with sealed credentials and a fresh webhook token."""
    integration_id, token = new_id(), new_token()
    sealed = Vault.from_settings(settings).seal(tenant_id, integration_id, credentials or {}, token)
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        session.add(
            Integration(
                tenant_id=tenant_id,
                id=integration_id,
                connector=connector,
                name=name or f"{connector} {integration_id}",
                status=status,
                config=config or {},
                sealed_credentials=sealed.credentials,
                wrapped_key=sealed.wrapped_key,
                key_id=sealed.key_id,
                sealed_webhook_token=sealed.webhook_token,
                allowed_ips=allowed_ips or [],
                created_by="test",
            )
        )
    return Hooked(tenant_id, integration_id, connector, token)


def count(owner_conn: psycopg.Connection, table: str, where: str = "true", *args: Any) -> int:
    """Rows of ``table`` (read as the owner, across tenants)."""
    row = owner_conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()
    assert row is not None
    return int(row[0])


async def eventually(check: Callable[[], Any], what: str) -> None:
    """Poll ``check()`` (sync or async) until it is true; fail after :data:`DEADLINE`."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + DEADLINE
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > give_up:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
