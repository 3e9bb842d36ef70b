"""Fixtures for the audit tests: tenants to write into, and a way to fill a chain."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from smeflow.audit import Actor, record
from smeflow.db import Database, DbScope

WriteEvents = Callable[..., Awaitable[None]]


@pytest.fixture
def write_events(db: Database) -> WriteEvents:
    """Append ``n`` events to a tenant's chain in one committed transaction.

    Event ``i`` (1-based) is ``item.updated`` on ``item/<i>`` with data ``{"n": i}``.
    """

    async def write(tenant_id: uuid.UUID, n: int, *, action: str = "item.updated") -> None:
        async with db.transaction(DbScope.tenant(tenant_id)) as s:
            for i in range(1, n + 1):
                await record(s, tenant_id, Actor("user", "u-1"), action, "item", str(i), {"n": i})

    return write
