"""Accounts and memberships, against the real database and its row-level security."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from smeflow.identity import (
    Principal,
    User,
    add_member,
    change_role,
    create_user,
    get_member,
    list_members,
    login,
    refresh,
    remove_member,
    set_platform_role,
    verify_password,
)
from smeflow.settings import Settings

from .conftest import PASSWORD, MakeMember, Seat, audit_actions


async def test_create_user_normalizes_and_refuses_duplicates(db: Database) -> None:
    async with db.transaction(DbScope.platform()) as s:
        user = await create_user(s, "  Amina@Example.COM ", PASSWORD, " Amina Njeri ")
    assert user.email == "amina@example.com"
    assert user.full_name == "Amina Njeri"
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, PASSWORD).ok

    with pytest.raises(Conflict) as caught:
        async with db.transaction(DbScope.platform()) as s:
            await create_user(s, "AMINA@example.com", PASSWORD, "Someone else")
    assert [f.field for f in caught.value.fields] == ["email"]


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("a@b", PASSWORD, "email"),
        ("ok@example.com", "short", "password"),
        ("ok@example.com", "x" * 2000, "password"),
    ],
)
async def test_create_user_validates(db: Database, email: str, password: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        async with db.transaction(DbScope.platform()) as s:
            await create_user(s, email, password, "")
    assert [f.field for f in caught.value.fields] == [field]


async def test_create_user_without_password_and_operator_role(db: Database) -> None:
    async with db.transaction(DbScope.platform()) as s:
        user = await create_user(s, "ops@example.com", None, "Ops", platform_role="operator")
        assert user.password_hash is None
        with pytest.raises(ValidationFailed):
            await create_user(s, "x@example.com", None, "X", platform_role="superuser")
        await set_platform_role(s, user.id, None)
        assert user.platform_role is None
        with pytest.raises(NotFound):
            await set_platform_role(s, uuid.uuid4(), "operator")


async def test_add_member_creates_account_and_audits(db: Database, owner_a: Seat) -> None:
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        member = await add_member(
            s, owner_a.principal, owner_a.tenant_id, "Kofi@Example.com", "staff", PASSWORD, "Kofi"
        )
    assert (member.email, member.role, member.full_name, member.status) == (
        "kofi@example.com",
        "staff",
        "Kofi",
        "active",
    )
    actions = await audit_actions(db, owner_a.tenant_id)
    # the owner fixture's own two events, then this member's
    assert actions == ["user.created", "membership.created", "user.created", "membership.created"]


async def test_existing_account_joins_another_tenant_keeping_its_password(
    db: Database, owner_a: Seat, owner_b: Seat
) -> None:
    # bob (owner of beta) is invisible in alpha's scope; add_member finds him in the auth scope
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        member = await add_member(
            s, owner_a.principal, owner_a.tenant_id, owner_b.email, "viewer", password="attacker-chosen-pw"
        )
    assert member.user_id == owner_b.user_id
    async with db.transaction(DbScope.auth()) as s:
        bob = await s.get(User, owner_b.user_id)
        assert bob is not None
        assert verify_password(bob.password_hash, PASSWORD).ok  # a tenant admin cannot reset it
        assert not verify_password(bob.password_hash, "attacker-chosen-pw").ok

    with pytest.raises(Conflict) as caught:
        async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
            await add_member(s, owner_a.principal, owner_a.tenant_id, owner_b.email.upper(), "staff")
    assert [f.field for f in caught.value.fields] == ["email"]


async def test_role_rules_when_adding(db: Database, owner_a: Seat, make_member: MakeMember) -> None:
    admin = await make_member(owner_a.tenant_id, "ada@alpha.example.com", "admin")
    staff = await make_member(owner_a.tenant_id, "sam@alpha.example.com", "staff")
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, admin.user_id)) as s:
        with pytest.raises(PermissionDenied, match="owner"):
            await add_member(s, admin.principal, owner_a.tenant_id, "new-owner@example.com", "owner")
        await add_member(s, admin.principal, owner_a.tenant_id, "new-admin@example.com", "admin")
        with pytest.raises(PermissionDenied, match="above your own"):
            await add_member(s, staff.principal, owner_a.tenant_id, "x@example.com", "admin")
        with pytest.raises(ValidationFailed) as caught:
            await add_member(s, admin.principal, owner_a.tenant_id, "x@example.com", "superadmin")
        assert caught.value.fields[0].field == "role"
    # only an owner grants the owner role
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        await add_member(s, owner_a.principal, owner_a.tenant_id, "second-owner@example.com", "owner")


async def test_actor_of_another_tenant_gets_not_found(db: Database, owner_a: Seat, owner_b: Seat) -> None:
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_b.user_id)) as s:
        with pytest.raises(NotFound):
            await add_member(s, owner_b.principal, owner_a.tenant_id, "x@example.com", "staff")
        with pytest.raises(NotFound):
            await change_role(s, owner_b.principal, owner_a.tenant_id, owner_a.user_id, "viewer")
        with pytest.raises(NotFound):
            await remove_member(s, owner_b.principal, owner_a.tenant_id, owner_a.user_id)


async def test_list_and_get_members_stay_in_their_tenant(
    db: Database, owner_a: Seat, owner_b: Seat, make_member: MakeMember
) -> None:
    extra = [
        await make_member(owner_a.tenant_id, f"m{i}@alpha.example.com", "viewer", None) for i in range(3)
    ]
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        first = await list_members(s, owner_a.tenant_id, limit=2)
        rest = await list_members(s, owner_a.tenant_id, limit=2, after_user_id=first[-1].user_id)
        assert [m.user_id for m in first + rest] == [owner_a.user_id] + [m.user_id for m in extra]
        assert (await get_member(s, owner_a.tenant_id, extra[0].user_id)).role == "viewer"
        with pytest.raises(NotFound):  # bob exists, but not in alpha
            await get_member(s, owner_a.tenant_id, owner_b.user_id)
        with pytest.raises(ValidationFailed):
            await list_members(s, owner_a.tenant_id, limit=0)
    # beta's scope sees none of alpha's members, even when asked for alpha by id
    async with db.transaction(DbScope.tenant(owner_b.tenant_id, owner_b.user_id)) as s:
        assert await list_members(s, owner_a.tenant_id) == []
        with pytest.raises(NotFound):
            await get_member(s, owner_a.tenant_id, owner_a.user_id)
        assert [m.email for m in await list_members(s, owner_b.tenant_id)] == [owner_b.email]


async def test_change_role_rules_and_audit(db: Database, owner_a: Seat, make_member: MakeMember) -> None:
    admin = await make_member(owner_a.tenant_id, "ada@alpha.example.com", "admin")
    staff = await make_member(owner_a.tenant_id, "sam@alpha.example.com", "staff")
    tid = owner_a.tenant_id
    async with db.transaction(DbScope.tenant(tid, owner_a.user_id)) as s:
        with pytest.raises(Conflict, match="at least one owner"):
            await change_role(s, owner_a.principal, tid, owner_a.user_id, "admin")
    async with db.transaction(DbScope.tenant(tid, admin.user_id)) as s:
        with pytest.raises(PermissionDenied):
            await change_role(s, admin.principal, tid, owner_a.user_id, "viewer")
        with pytest.raises(PermissionDenied):
            await change_role(s, admin.principal, tid, staff.user_id, "owner")
        member = await change_role(s, admin.principal, tid, staff.user_id, "viewer")
        assert member.role == "viewer"
        with pytest.raises(NotFound):
            await change_role(s, admin.principal, tid, uuid.uuid4(), "viewer")
    async with db.transaction(DbScope.tenant(tid, owner_a.user_id)) as s:
        await change_role(s, owner_a.principal, tid, admin.user_id, "owner")
        await change_role(s, owner_a.principal, tid, owner_a.user_id, "admin")  # no longer the last owner
        unchanged = await change_role(s, owner_a.principal, tid, staff.user_id, "viewer")
        assert unchanged.role == "viewer"
    actions = await audit_actions(db, tid)
    assert actions.count("membership.updated") == 3  # the no-op change is not recorded


async def test_remove_member_revokes_its_logins(
    db: Database, settings: Settings, owner_a: Seat, make_member: MakeMember
) -> None:
    tid = owner_a.tenant_id
    staff = await make_member(tid, "sam@alpha.example.com", "staff")
    async with db.transaction(DbScope.auth()) as s:
        result = await login(s, settings, staff.email, PASSWORD)
    assert result.tokens is not None
    assert result.tokens.refresh_token is not None

    async with db.transaction(DbScope.tenant(tid, owner_a.user_id)) as s:
        with pytest.raises(Conflict, match="at least one owner"):
            await remove_member(s, owner_a.principal, tid, owner_a.user_id)
        await remove_member(s, owner_a.principal, tid, staff.user_id)
        with pytest.raises(NotFound):
            await get_member(s, tid, staff.user_id)
        with pytest.raises(NotFound):
            await remove_member(s, owner_a.principal, tid, staff.user_id)
    assert (await audit_actions(db, tid))[-1] == "membership.removed"

    from smeflow.errors import InvalidCredentials

    with pytest.raises(InvalidCredentials):
        async with db.transaction(DbScope.auth()) as s:
            await refresh(s, settings, result.tokens.refresh_token)
    # the account itself stays
    async with db.transaction(DbScope.auth()) as s:
        assert (
            await s.execute(select(User.id).where(User.id == staff.user_id))
        ).scalar_one() == staff.user_id


async def test_admin_cannot_remove_an_owner_and_system_actor_is_trusted(
    db: Database, owner_a: Seat, make_member: MakeMember
) -> None:
    tid = owner_a.tenant_id
    admin = await make_member(tid, "ada@alpha.example.com", "admin")
    second = await make_member(tid, "oscar@alpha.example.com", "owner")
    async with db.transaction(DbScope.tenant(tid, admin.user_id)) as s:
        with pytest.raises(PermissionDenied):
            await remove_member(s, admin.principal, tid, second.user_id)
    async with db.transaction(DbScope.tenant(tid)) as s:
        await remove_member(s, Actor.system("cli"), tid, second.user_id)
    system_principal = Principal(kind="user", tenant_id=tid, role="owner", user_id=None)
    assert system_principal.actor == Actor.system()
