"""Row-level security, proven as the application role with raw SQL that forgets WHERE tenant_id."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from smeflow.core import new_id, utcnow
from smeflow.db import Database, DbScope

TENANT_TABLES = ["memberships", "api_keys", "audit_events", "audit_heads"]


def _seed(owner: psycopg.Connection, slug: str) -> uuid.UUID:
    """A tenant with a member, an API key and an audit event, written as the owner."""
    tenant, user, now = new_id(), new_id(), utcnow()
    owner.execute(
        "INSERT INTO tenants VALUES (%s, %s, %s, 'ke', 'KE', 'KES', 'en_KE', 'Africa/Nairobi', 'free', '{}',"
        " 'active', %s, %s)",
        (tenant, slug, slug, now, now),
    )
    owner.execute(
        "INSERT INTO users (id, email, full_name, status, mfa_enabled, created_at, updated_at)"
        " VALUES (%s, %s, '', 'active', false, %s, %s)",
        (user, f"{slug}@example.com", now, now),
    )
    owner.execute("INSERT INTO memberships VALUES (%s, %s, 'owner', %s)", (tenant, user, now))
    owner.execute(
        "INSERT INTO api_keys (tenant_id, id, name, prefix, secret_hash, role, scopes, created_at)"
        " VALUES (%s, %s, 'k', %s, '\\x00', 'admin', '{}', %s)",
        (tenant, new_id(), slug[:10], now),
    )
    owner.execute(
        "INSERT INTO audit_events VALUES"
        " (%s, 1, %s, %s, 'system', 'x', 'seed', 't', 't', '{}', NULL, 'g', 'h')",
        (tenant, new_id(), now),
    )
    owner.execute("INSERT INTO audit_heads VALUES (%s, 1, 'h')", (tenant,))
    return tenant


@pytest.fixture
def two_tenants(owner_conn: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    return _seed(owner_conn, "tenant-a"), _seed(owner_conn, "tenant-b")


async def test_nothing_bound_sees_no_tenant_rows(
    db: Database, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    async with db.engine.connect() as conn:  # a bare connection: no scope bound at all
        for table in [*TENANT_TABLES, "tenants", "users", "auth_sessions", "external_identities"]:
            count = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            assert count == 0, table


async def test_bound_tenant_sees_only_its_rows(
    db: Database, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = two_tenants
    for tenant in (a, b):
        async with db.transaction(DbScope.tenant(tenant)) as session:
            for table in TENANT_TABLES:
                ids = (await session.execute(text(f"SELECT DISTINCT tenant_id FROM {table}"))).scalars().all()
                assert ids == [tenant], table
            tenants = (await session.execute(text("SELECT id FROM tenants"))).scalars().all()
            assert tenants == [tenant]
            users = (await session.execute(text("SELECT email FROM users"))).scalars().all()
            assert users == [("tenant-a" if tenant == a else "tenant-b") + "@example.com"]


async def test_writes_into_another_tenant_are_refused(
    db: Database, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = two_tenants
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(DbScope.tenant(a)) as session:
            await session.execute(
                text("INSERT INTO audit_heads VALUES (:b, 1, 'x') ON CONFLICT DO NOTHING"), {"b": b}
            )
    async with db.transaction(DbScope.tenant(a)) as session:
        changed = await session.execute(
            text("UPDATE api_keys SET name = 'stolen' WHERE tenant_id = :b"), {"b": b}
        )
        assert changed.rowcount == 0  # type: ignore[attr-defined]
        deleted = await session.execute(text("DELETE FROM memberships WHERE tenant_id = :b"), {"b": b})
        assert deleted.rowcount == 0  # type: ignore[attr-defined]


async def test_binding_ends_with_the_transaction(
    db: Database, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, _ = two_tenants
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT set_config('smeflow.tenant_id', :t, true)"), {"t": str(a)})
        assert (await conn.execute(text("SELECT count(*) FROM api_keys"))).scalar_one() == 1
        await conn.commit()
        assert (await conn.execute(text("SELECT count(*) FROM api_keys"))).scalar_one() == 0


def test_every_tenant_table_has_forced_rls_and_the_app_role_owns_nothing(
    owner_conn: psycopg.Connection,
) -> None:
    rows = owner_conn.execute(
        """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
             AND EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)"""
    ).fetchall()
    assert {r[0] for r in rows} >= set(TENANT_TABLES) | {"auth_sessions"}
    assert all(r[1] and r[2] for r in rows), [r for r in rows if not (r[1] and r[2])]
    for table in [r[0] for r in rows]:
        pk = owner_conn.execute(
            """SELECT a.attname FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
               WHERE i.indrelid = %s::regclass AND i.indisprimary""",
            (table,),
        ).fetchone()
        assert pk is not None
        if table != "auth_sessions":  # a user's login, keyed by its own id (see the migration)
            assert pk[0] == "tenant_id", f"{table}: primary key must lead with tenant_id"
    role = owner_conn.execute(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'smeflow_app'"
    ).fetchone()
    assert role == (False, False)
    owned = owner_conn.execute("SELECT count(*) FROM pg_tables WHERE tableowner = 'smeflow_app'").fetchone()
    assert owned == (0,)
