"""Fixtures for the identity tests: tenants, members with passwords, principals to act as."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from smeflow.audit import Actor, AuditEvent
from smeflow.db import Database, DbScope
from smeflow.identity import Principal, add_member

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Seat:
    """A test member: who, where, and how to act as them."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: str

    @property
    def principal(self) -> Principal:
        return Principal(kind="user", tenant_id=self.tenant_id, role=self.role, user_id=self.user_id)


MakeTenant = Callable[..., Awaitable[uuid.UUID]]  # the root conftest's make_tenant
MakeMember = Callable[..., Awaitable[Seat]]


@pytest.fixture
def make_member(db: Database) -> MakeMember:
    """Add ``email`` to a tenant with ``role`` (creating the account, with :data:`PASSWORD`)."""

    async def make(
        tenant_id: uuid.UUID, email: str, role: str = "owner", password: str | None = PASSWORD
    ) -> Seat:
        async with db.transaction(DbScope.tenant(tenant_id)) as s:
            member = await add_member(s, Actor.system("test"), tenant_id, email, role, password=password)
        return Seat(member.user_id, tenant_id, member.email, role)

    return make


@pytest.fixture
async def owner_a(tenant_a: uuid.UUID, make_member: MakeMember) -> Seat:
    return await make_member(tenant_a, "olivia@alpha.example.com", "owner")


@pytest.fixture
async def owner_b(tenant_b: uuid.UUID, make_member: MakeMember) -> Seat:
    return await make_member(tenant_b, "bob@beta.example.com", "owner")


async def audit_actions(db: Database, tenant_id: uuid.UUID) -> list[str]:
    """The actions in a tenant's audit chain, in order."""
    async with db.transaction(DbScope.tenant(tenant_id)) as s:
        rows = await s.execute(
            select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq)
        )
        return list(rows.scalars())
