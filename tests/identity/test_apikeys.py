"""API keys: format, storage, authentication, refusals, and tenant isolation."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

import psycopg
import pytest

from smeflow.audit import Actor
from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.errors import InvalidCredentials, NotFound, PermissionDenied, ValidationFailed
from smeflow.identity import (
    ApiKey,
    Principal,
    authenticate_api_key,
    create_api_key,
    get_api_key,
    list_api_keys,
    revoke_api_key,
)

from .conftest import MakeMember, Seat, audit_actions

KEY_FORMAT = re.compile(r"smf_([A-Za-z0-9]{10})_([A-Za-z0-9_-]{43,})")


async def _create(
    db: Database, seat: Seat, role: str = "staff", scopes: list[str] | None = None, **kw: object
) -> tuple[str, ApiKey]:
    async with db.transaction(DbScope.tenant(seat.tenant_id, seat.user_id)) as s:
        return await create_api_key(s, seat.principal, seat.tenant_id, "zapier", role, scopes or ["*"], **kw)  # type: ignore[arg-type]


async def _auth(db: Database, plaintext: str, **kw: object) -> Principal:
    async with db.transaction(DbScope.auth()) as s:
        return await authenticate_api_key(s, plaintext, **kw)  # type: ignore[arg-type]


async def test_create_and_authenticate(db: Database, owner_a: Seat) -> None:
    plaintext, key = await _create(db, owner_a, "admin", ["audit:read", "users:read", "audit:read"])
    match = KEY_FORMAT.fullmatch(plaintext)
    assert match is not None
    assert key.prefix == match.group(1)
    assert key.secret_hash == hashlib.sha256(match.group(2).encode()).digest()
    assert key.scopes == ["audit:read", "users:read"]
    assert key.created_by == owner_a.user_id
    assert (await audit_actions(db, owner_a.tenant_id))[-1] == "apikey.created"

    principal = await _auth(db, plaintext)
    assert principal == Principal(
        kind="api_key",
        tenant_id=owner_a.tenant_id,
        role="admin",
        user_id=None,
        api_key_id=key.id,
        scopes=frozenset({"audit:read", "users:read"}),
        tier="free",
    )
    assert principal.actor == Actor("api_key", str(key.id))


async def test_last_used_is_written_at_most_once_a_minute(db: Database, owner_a: Seat) -> None:
    plaintext, key = await _create(db, owner_a)

    async def last_used() -> object:
        async with db.transaction(DbScope.tenant(owner_a.tenant_id)) as s:
            return (await get_api_key(s, owner_a.tenant_id, key.id)).last_used_at

    now = utcnow()
    await _auth(db, plaintext, now=now)
    assert await last_used() == now
    await _auth(db, plaintext, now=now + timedelta(seconds=59))
    assert await last_used() == now
    await _auth(db, plaintext, now=now + timedelta(seconds=61))
    assert await last_used() == now + timedelta(seconds=61)


async def test_refusals(db: Database, owner_a: Seat, owner_conn: psycopg.Connection) -> None:
    plaintext, key = await _create(db, owner_a, expires_at=utcnow() + timedelta(hours=1))
    prefix_part, secret = plaintext[:15], plaintext[15:]
    flipped = secret[:-1] + ("B" if secret[-1] == "A" else "A")
    for junk in (
        "",
        "smf_",
        "not-a-key",
        prefix_part + flipped,  # right prefix, wrong secret
        "smf_AAAAAAAAAA_" + secret,  # unknown prefix
        plaintext[:20],  # too short
        plaintext.replace("smf_", "sk_", 1),
    ):
        with pytest.raises(InvalidCredentials) as caught:
            await _auth(db, junk)
        assert caught.value.message == "The API key is not valid"
    await _auth(db, plaintext)
    with pytest.raises(InvalidCredentials):  # expired
        await _auth(db, plaintext, now=utcnow() + timedelta(hours=2))
    owner_conn.execute("UPDATE tenants SET status = 'suspended' WHERE id = %s", (owner_a.tenant_id,))
    with pytest.raises(InvalidCredentials):
        await _auth(db, plaintext)
    owner_conn.execute("UPDATE tenants SET status = 'active' WHERE id = %s", (owner_a.tenant_id,))
    await _auth(db, plaintext)

    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        revoked = await revoke_api_key(s, owner_a.principal, owner_a.tenant_id, key.id)
        assert revoked.revoked_at is not None
        again = await revoke_api_key(s, owner_a.principal, owner_a.tenant_id, key.id)  # idempotent
        assert again.revoked_at == revoked.revoked_at
    with pytest.raises(InvalidCredentials):
        await _auth(db, plaintext)
    assert (await audit_actions(db, owner_a.tenant_id)).count("apikey.revoked") == 1


async def test_creation_rules(db: Database, owner_a: Seat, make_member: MakeMember) -> None:
    admin = await make_member(owner_a.tenant_id, "ada@alpha.example.com", "admin")
    with pytest.raises(PermissionDenied):
        await _create(db, admin, "owner")
    for kwargs, field in [
        ({"scopes": ["audit read"]}, "scopes"),
        ({"scopes": ["Audit:Read"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"role": "root"}, "role"),
        ({"expires_at": utcnow() - timedelta(seconds=1)}, "expires_at"),
        ({"name": "  "}, "name"),
    ]:
        args: dict[str, object] = {"name": "k", "role": "staff", "scopes": ["*"], **kwargs}
        with pytest.raises(ValidationFailed) as caught:
            async with db.transaction(DbScope.tenant(owner_a.tenant_id, admin.user_id)) as s:
                await create_api_key(s, admin.principal, owner_a.tenant_id, **args)  # type: ignore[arg-type]
        assert caught.value.fields[0].field == field
    # a key creating a key cannot widen its own scopes
    plaintext, _ = await _create(db, admin, "admin", ["apikeys:write", "audit:read"])
    key_principal = await _auth(db, plaintext)
    async with db.transaction(DbScope.tenant(owner_a.tenant_id)) as s:
        with pytest.raises(PermissionDenied):
            await create_api_key(s, key_principal, owner_a.tenant_id, "wider", "staff", ["*"])
        _, narrower = await create_api_key(
            s, key_principal, owner_a.tenant_id, "narrower", "staff", ["audit:read"]
        )
        assert narrower.created_by is None
    # an admin may not revoke an owner's key
    _, owner_key = await _create(db, owner_a, "owner")
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, admin.user_id)) as s:
        with pytest.raises(PermissionDenied):
            await revoke_api_key(s, admin.principal, owner_a.tenant_id, owner_key.id)


async def test_tenants_cannot_see_or_revoke_each_others_keys(
    db: Database, owner_a: Seat, owner_b: Seat
) -> None:
    _, key_a = await _create(db, owner_a)
    async with db.transaction(DbScope.tenant(owner_b.tenant_id, owner_b.user_id)) as s:
        assert await list_api_keys(s, owner_b.tenant_id) == []
        assert await list_api_keys(s, owner_a.tenant_id) == []  # RLS: alpha's rows do not exist here
        with pytest.raises(NotFound):
            await get_api_key(s, owner_b.tenant_id, key_a.id)
        with pytest.raises(NotFound):  # beta's owner, naming the key under beta
            await revoke_api_key(s, owner_b.principal, owner_b.tenant_id, key_a.id)
        with pytest.raises(NotFound):  # beta's owner, naming alpha
            await revoke_api_key(s, owner_b.principal, owner_a.tenant_id, key_a.id)
        with pytest.raises(NotFound):
            await create_api_key(s, owner_b.principal, owner_a.tenant_id, "x", "staff", ["*"])
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        keys = await list_api_keys(s, owner_a.tenant_id)
        assert [k.id for k in keys] == [key_a.id]
        assert keys[0].revoked_at is None
        with pytest.raises(NotFound):
            await get_api_key(s, owner_a.tenant_id, uuid.uuid4())


async def test_list_filters_and_orders(db: Database, owner_a: Seat) -> None:
    _, first = await _create(db, owner_a)
    _, second = await _create(db, owner_a)
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        await revoke_api_key(s, Actor.system("cli"), owner_a.tenant_id, first.id)
        assert [k.id for k in await list_api_keys(s, owner_a.tenant_id)] == [second.id, first.id]
        assert [k.id for k in await list_api_keys(s, owner_a.tenant_id, include_revoked=False)] == [second.id]
