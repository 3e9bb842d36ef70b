"""Authorization: the seeded RBAC policy, tenant domains, operators, API key scopes."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from smeflow.db import Database, DbScope
from smeflow.errors import PermissionDenied
from smeflow.identity import ROLES, Authorizer, Principal
from smeflow.identity._authz import Rule

T1, T2 = uuid.uuid4(), uuid.uuid4()

# permission -> the least role that has it (by the seeded policy)
TENANT_PERMISSIONS = {
    ("tenant", "read"): "viewer",
    ("users", "read"): "viewer",
    ("tenant", "write"): "admin",
    ("users", "write"): "admin",
    ("apikeys", "read"): "admin",
    ("apikeys", "write"): "admin",
    ("audit", "read"): "admin",
    ("owners", "write"): "owner",
}
OPERATOR_PERMISSIONS = [("tenants", "read"), ("tenants", "write"), ("platform_audit", "read")]


def user(role: str | None, tenant: uuid.UUID | None = T1, platform_role: str | None = None) -> Principal:
    return Principal(
        kind="user", tenant_id=tenant, role=role, user_id=uuid.uuid4(), platform_role=platform_role
    )


def key(role: str, scopes: set[str], tenant: uuid.UUID = T1) -> Principal:
    return Principal(
        kind="api_key",
        tenant_id=tenant,
        role=role,
        user_id=None,
        api_key_id=uuid.uuid4(),
        scopes=frozenset(scopes),
    )


@pytest.fixture
async def authorizer(db: Database) -> Authorizer:
    async with db.transaction(DbScope.auth()) as s:
        return await Authorizer.load(s)


def _rank(role: str) -> int:
    return len(ROLES) - ROLES.index(role)


async def test_each_role_includes_the_ones_below(authorizer: Authorizer) -> None:
    for (obj, act), least in TENANT_PERMISSIONS.items():
        for role in ROLES:
            expected = _rank(role) >= _rank(least)
            assert authorizer.allowed(user(role), obj, act) is expected, (role, obj, act)
            # the "*" domain rules hold in any tenant: casbin needs our domain matching function
            assert authorizer.allowed(user(role, uuid.uuid4()), obj, act) is expected
    assert not authorizer.allowed(user("owner"), "invoices", "delete")  # nothing unlisted
    assert not authorizer.allowed(user("owner", tenant=None), "tenant", "read")  # a role needs a tenant


async def test_operator_permissions(authorizer: Authorizer) -> None:
    operator = user(None, tenant=None, platform_role="operator")
    for obj, act in OPERATOR_PERMISSIONS:
        assert authorizer.allowed(operator, obj, act)
        assert not authorizer.allowed(user("owner"), obj, act)  # owners are not operators
    assert not authorizer.allowed(operator, "users", "write")  # nor operators tenant admins
    # an operator who is also a member keeps both
    both = user("viewer", platform_role="operator")
    assert authorizer.allowed(both, "tenants", "write")
    assert authorizer.allowed(both, "users", "read")
    assert not authorizer.allowed(both, "users", "write")
    # an API key never carries the platform role
    forged = Principal(
        kind="api_key", tenant_id=T1, role="viewer", user_id=None, api_key_id=uuid.uuid4(),
        scopes=frozenset({"*"}), platform_role="operator",
    )  # fmt: skip
    assert not authorizer.allowed(forged, "tenants", "write")


async def test_tenant_specific_rules_apply_only_in_their_tenant(
    db: Database, owner_conn: psycopg.Connection
) -> None:
    owner_conn.execute(
        "INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES "
        "('p', 'staff', %s, 'invoices', 'approve'), ('g', 'viewer', 'staff', %s, '')",
        (str(T1), str(T1)),
    )
    try:
        async with db.transaction(DbScope.tenant(T1)) as s:  # any scope may read the rules
            authorizer = await Authorizer.load(s)
        assert authorizer.allowed(user("staff", T1), "invoices", "approve")
        assert authorizer.allowed(user("owner", T1), "invoices", "approve")  # inherited
        assert not authorizer.allowed(user("staff", T2), "invoices", "approve")
        # in T1 a viewer is promoted to staff; elsewhere not
        assert authorizer.allowed(user("viewer", T1), "invoices", "approve")
        assert not authorizer.allowed(user("viewer", T2), "invoices", "approve")
    finally:
        owner_conn.execute("DELETE FROM authz_rules WHERE v1 = %s OR v2 = %s", (str(T1), str(T1)))


def test_stored_domains_are_not_patterns() -> None:
    rules: list[Rule] = [
        ("p", "staff", str(T1)[:8] + "*", "invoices", "approve"),
        ("g", "staff", "viewer", "*", ""),
    ]
    authorizer = Authorizer(rules)
    assert not authorizer.allowed(user("staff", T1), "invoices", "approve")


async def test_scopes_narrow_api_keys(authorizer: Authorizer) -> None:
    audit_only = key("admin", {"audit:read"})
    assert authorizer.allowed(audit_only, "audit", "read")
    assert not authorizer.allowed(audit_only, "users", "write")
    everything = key("admin", {"*"})
    assert all(
        authorizer.allowed(everything, o, a)
        for (o, a), least in TENANT_PERMISSIONS.items()
        if least != "owner"
    )
    assert not authorizer.allowed(everything, "owners", "write")
    # a scope never grants beyond the key's role
    assert not authorizer.allowed(key("viewer", {"users:write", "*"}), "users", "write")
    assert not authorizer.allowed(key("admin", set()), "audit", "read")


async def test_require(authorizer: Authorizer) -> None:
    authorizer.require(user("admin"), "audit:read")
    with pytest.raises(PermissionDenied, match="audit:read"):
        authorizer.require(user("staff"), "audit:read")
    with pytest.raises(ValueError, match="object:action"):
        authorizer.require(user("admin"), "audit")
