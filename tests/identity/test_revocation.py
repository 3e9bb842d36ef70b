"""Revocations and role changes are announced (pg_notify) when, and only when, they commit, so
API processes can drop cached credentials at once."""

from __future__ import annotations

import psycopg
import pytest

from smeflow.db import Database, DbScope
from smeflow.identity import (
    AUTH_CHANNEL,
    EVERYTHING,
    change_role,
    create_api_key,
    login,
    logout,
    revoke_api_key,
    session_cache_key,
)
from smeflow.settings import Settings

from .conftest import PASSWORD, MakeMember, Seat


def _heard(conn: psycopg.Connection) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=0.3, stop_after=10)]


@pytest.fixture
def listener(owner_conn: psycopg.Connection) -> psycopg.Connection:
    owner_conn.execute(f"LISTEN {AUTH_CHANNEL}")
    return owner_conn


async def test_logout_role_change_and_key_revocation_are_announced(
    db: Database, settings: Settings, owner_a: Seat, make_member: MakeMember, listener: psycopg.Connection
) -> None:
    staff = await make_member(owner_a.tenant_id, "sam@alpha.example.com", "staff")
    async with db.transaction(DbScope.auth()) as s:
        first = (await login(s, settings, staff.email, PASSWORD)).tokens
        second = (await login(s, settings, staff.email, PASSWORD)).tokens
    assert first is not None
    assert second is not None
    assert _heard(listener) == []  # logging in changes no cached credential

    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        await change_role(s, owner_a.principal, owner_a.tenant_id, staff.user_id, "viewer")
    assert sorted(_heard(listener)) == sorted(
        session_cache_key(t.session_id, owner_a.tenant_id) for t in (first, second)
    )

    async with db.transaction(DbScope.auth()) as s:
        await logout(s, session_id=first.session_id)
    assert _heard(listener) == [session_cache_key(first.session_id, owner_a.tenant_id)]

    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        _, key = await create_api_key(s, owner_a.principal, owner_a.tenant_id, "k", "staff", ["*"])
        await revoke_api_key(s, owner_a.principal, owner_a.tenant_id, key.id)
    assert _heard(listener) == [EVERYTHING]


async def test_nothing_is_announced_when_the_change_rolls_back(
    db: Database, settings: Settings, owner_a: Seat, listener: psycopg.Connection
) -> None:
    async with db.transaction(DbScope.auth()) as s:
        tokens = (await login(s, settings, owner_a.email, PASSWORD)).tokens
    assert tokens is not None

    async def logout_then_fail() -> None:
        async with db.transaction(DbScope.auth()) as s:
            await logout(s, session_id=tokens.session_id)
            raise RuntimeError("the request failed after the logout")

    with pytest.raises(RuntimeError, match="failed"):
        await logout_then_fail()
    assert _heard(listener) == []
