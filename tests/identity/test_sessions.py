"""Logging in, the MFA step, refresh-token rotation and theft detection, logging out."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.errors import InvalidCredentials, ValidationFailed
from smeflow.identity import (
    AuthSession,
    RefreshTokenReused,
    TokenExpired,
    TokenInvalid,
    Tokens,
    User,
    begin_mfa_enrolment,
    change_role,
    complete_mfa_login,
    confirm_mfa,
    create_user,
    decode_access_token,
    is_session_active,
    issue_mfa_token,
    login,
    logout,
    refresh,
    session_principal,
    verify_password,
)
from smeflow.settings import Settings

from .conftest import PASSWORD, MakeMember, MakeTenant, Seat, audit_actions

BAD_LOGIN = "The email, password or tenant is not valid"


async def _login(
    db: Database, settings: Settings, email: str, password: str = PASSWORD, slug: str | None = None
) -> Tokens:
    async with db.transaction(DbScope.auth()) as s:
        result = await login(s, settings, email, password, slug)
    assert result.tokens is not None
    assert not result.mfa_required
    return result.tokens


async def _refresh(db: Database, settings: Settings, token: str) -> Tokens:
    """Refresh the way the API must: a reuse's revocation is committed before the error goes out."""
    reused: RefreshTokenReused | None = None
    async with db.transaction(DbScope.auth()) as s:
        try:
            return await refresh(s, settings, token)
        except RefreshTokenReused as exc:
            reused = exc
    raise reused


async def test_login_issues_tokens_and_audits(db: Database, settings: Settings, owner_a: Seat) -> None:
    tokens = await _login(db, settings, "  OLIVIA@alpha.example.com ")
    claims = decode_access_token(settings, tokens.access_token)
    assert (claims.sub, claims.tid, claims.role, claims.sid) == (
        owner_a.user_id,
        owner_a.tenant_id,
        "owner",
        tokens.session_id,
    )
    assert tokens.expires_in == settings.access_token_seconds
    assert tokens.token_type == "Bearer"
    assert tokens.refresh_token is not None
    assert tokens.refresh_token.count(".") == 1
    assert (await audit_actions(db, owner_a.tenant_id))[-1] == "session.login"
    # only a hash of the refresh secret is stored
    async with db.transaction(DbScope.auth()) as s:
        row = (
            await s.execute(select(AuthSession).where(AuthSession.family_id == tokens.session_id))
        ).scalar_one()
    assert tokens.refresh_token.split(".")[1].encode() not in row.token_hash
    async with db.transaction(DbScope.auth(owner_a.user_id)) as s:
        principal = await session_principal(s, claims)
    assert principal.role == "owner"
    assert principal.tier == "free"
    assert principal.session_id == tokens.session_id


async def test_refusals_all_look_the_same(
    db: Database, settings: Settings, owner_a: Seat, owner_conn: psycopg.Connection, make_tenant: MakeTenant
) -> None:
    async with db.transaction(DbScope.platform()) as s:
        await create_user(s, "nopass@example.com", None, "OIDC only")
    attempts = [
        (owner_a.email, "wrong password!"),
        ("nobody@example.com", PASSWORD),
        ("nopass@example.com", PASSWORD),
        (owner_a.email, "x" * 5000),
    ]
    for email, password in attempts:
        with pytest.raises(InvalidCredentials) as caught:
            await _login(db, settings, email, password)
        assert caught.value.message == BAD_LOGIN
    # a tenant the user is not in, and one that does not exist: the same answer
    await make_tenant("gamma")
    for slug in ("gamma", "no-such-tenant"):
        with pytest.raises(InvalidCredentials) as caught:
            await _login(db, settings, owner_a.email, slug=slug)
        assert caught.value.message == BAD_LOGIN
    # a disabled account, even with the right password
    owner_conn.execute("UPDATE users SET status = 'disabled' WHERE id = %s", (owner_a.user_id,))
    with pytest.raises(InvalidCredentials) as caught:
        await _login(db, settings, owner_a.email)
    assert caught.value.message == BAD_LOGIN


async def test_tenant_choice(
    db: Database,
    settings: Settings,
    owner_a: Seat,
    owner_b: Seat,
    make_member: MakeMember,
    make_tenant: MakeTenant,
) -> None:
    await make_member(owner_b.tenant_id, owner_a.email, "viewer")  # olivia is in alpha and beta
    hidden = await make_tenant("zeta")
    await make_member(hidden, "zed@zeta.example.com", "owner")
    with pytest.raises(ValidationFailed) as caught:
        await _login(db, settings, owner_a.email)
    problem = caught.value.fields[0]
    assert problem.field == "tenant"
    assert "alpha" in problem.message
    assert "beta" in problem.message
    assert "zeta" not in problem.message
    assert caught.value.extra == {"tenants": ["alpha", "beta"]}
    tokens = await _login(db, settings, owner_a.email, slug="BETA")
    assert (tokens.tenant_id, tokens.role) == (owner_b.tenant_id, "viewer")
    # a suspended tenant is no longer a choice
    async with db.transaction(DbScope.platform()) as s:
        from smeflow.tenancy.models import Tenant

        tenant = await s.get(Tenant, owner_b.tenant_id)
        assert tenant is not None
        tenant.status = "suspended"
    tokens = await _login(db, settings, owner_a.email)
    assert tokens.tenant_id == owner_a.tenant_id


async def test_operator_without_membership_gets_a_tenantless_token(db: Database, settings: Settings) -> None:
    async with db.transaction(DbScope.platform()) as s:
        await create_user(s, "ops@example.com", PASSWORD, "Ops", platform_role="operator")
        await create_user(s, "lonely@example.com", PASSWORD, "No tenant")
    tokens = await _login(db, settings, "ops@example.com")
    assert (tokens.tenant_id, tokens.role, tokens.refresh_token, tokens.session_id) == (
        None,
        None,
        None,
        None,
    )
    claims = decode_access_token(settings, tokens.access_token)
    assert claims.platform_role == "operator"
    assert claims.tid is None
    async with db.transaction(DbScope.auth(claims.sub)) as s:
        principal = await session_principal(s, claims)
    assert principal.platform_role == "operator"
    assert principal.tenant_id is None
    with pytest.raises(InvalidCredentials):  # not an operator, and in no tenant
        await _login(db, settings, "lonely@example.com")


async def test_refresh_rotates_and_reuse_revokes_the_family(
    db: Database, settings: Settings, owner_a: Seat
) -> None:
    first = await _login(db, settings, owner_a.email)
    assert first.refresh_token is not None
    second = await _refresh(db, settings, first.refresh_token)
    assert second.refresh_token is not None
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id  # same login, same family
    third = await _refresh(db, settings, second.refresh_token)
    assert third.refresh_token is not None

    # someone replays the rotated first token: the whole family dies, the live one included
    with pytest.raises(RefreshTokenReused):
        await _refresh(db, settings, first.refresh_token)
    with pytest.raises(InvalidCredentials):
        await _refresh(db, settings, third.refresh_token)
    assert first.session_id is not None
    async with db.transaction(DbScope.auth()) as s:
        assert not await is_session_active(s, first.session_id)
        rows = (
            await s.execute(select(AuthSession).where(AuthSession.family_id == first.session_id))
        ).scalars()
        assert all(r.revoked_at is not None for r in rows)
        with pytest.raises(InvalidCredentials):
            await session_principal(s, decode_access_token(settings, third.access_token))
    actions = await audit_actions(db, owner_a.tenant_id)
    assert actions[-1] == "session.revoked"


async def test_refresh_refusals(
    db: Database, settings: Settings, owner_a: Seat, owner_conn: psycopg.Connection
) -> None:
    tokens = await _login(db, settings, owner_a.email)
    assert tokens.refresh_token is not None
    row_id, secret = tokens.refresh_token.split(".")
    flipped = secret[:-1] + ("B" if secret[-1] == "A" else "A")
    for junk in ("", "nonsense", f"{row_id}.short", f"{uuid.uuid4()}.{secret}", f"{row_id}.{flipped}"):
        with pytest.raises(InvalidCredentials):
            await _refresh(db, settings, junk)
    assert (await _refresh(db, settings, tokens.refresh_token)).refresh_token  # still good after junk
    other = await _login(db, settings, owner_a.email)
    assert other.refresh_token is not None
    owner_conn.execute(
        "UPDATE auth_sessions SET expires_at = now() - interval '1 second' WHERE family_id = %s",
        (other.session_id,),
    )
    with pytest.raises(InvalidCredentials):
        await _refresh(db, settings, other.refresh_token)


async def test_refresh_picks_up_role_changes_and_disabled_users(
    db: Database, settings: Settings, owner_a: Seat, make_member: MakeMember, owner_conn: psycopg.Connection
) -> None:
    staff = await make_member(owner_a.tenant_id, "sam@alpha.example.com", "staff")
    tokens = await _login(db, settings, staff.email)
    assert tokens.refresh_token is not None
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        await change_role(s, owner_a.principal, owner_a.tenant_id, staff.user_id, "admin")
    async with db.transaction(DbScope.auth()) as s:
        # the old access token still says staff; the database says admin now
        principal = await session_principal(s, decode_access_token(settings, tokens.access_token))
        assert principal.role == "admin"
    renewed = await _refresh(db, settings, tokens.refresh_token)
    assert renewed.role == "admin"
    assert decode_access_token(settings, renewed.access_token).role == "admin"
    assert renewed.refresh_token is not None
    owner_conn.execute("UPDATE users SET status = 'disabled' WHERE id = %s", (staff.user_id,))
    with pytest.raises(InvalidCredentials):
        await _refresh(db, settings, renewed.refresh_token)


async def test_logout(db: Database, settings: Settings, owner_a: Seat) -> None:
    by_token = await _login(db, settings, owner_a.email)
    by_sid = await _login(db, settings, owner_a.email)
    assert by_token.refresh_token
    assert by_sid.refresh_token
    assert by_sid.session_id
    async with db.transaction(DbScope.auth()) as s:
        assert not await logout(s, refresh_token="garbage")
        wrong = by_token.refresh_token[:-1] + ("B" if by_token.refresh_token[-1] == "A" else "A")
        assert not await logout(s, refresh_token=wrong)
        assert await logout(s, refresh_token=by_token.refresh_token)
    async with db.transaction(DbScope.auth()) as s:
        assert await is_session_active(s, by_sid.session_id)
        assert await logout(s, session_id=by_sid.session_id)
        assert not await logout(s, session_id=by_sid.session_id)  # already done
        assert not await logout(s, session_id=uuid.uuid4())
        with pytest.raises(ValueError, match="exactly one"):
            await logout(s)
    for tokens in (by_token, by_sid):
        assert tokens.refresh_token is not None
        with pytest.raises(InvalidCredentials):
            await _refresh(db, settings, tokens.refresh_token)
    assert (await audit_actions(db, owner_a.tenant_id)).count("session.revoked") == 2


async def test_outdated_password_hash_is_upgraded_at_login(
    db: Database, settings: Settings, owner_a: Seat
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    async with db.transaction(DbScope.auth()) as s:
        user = await s.get(User, owner_a.user_id)
        assert user is not None
        user.password_hash = weak
    await _login(db, settings, owner_a.email)
    async with db.transaction(DbScope.auth()) as s:
        user = await s.get(User, owner_a.user_id)
        assert user is not None
        assert user.password_hash != weak
        check = verify_password(user.password_hash, PASSWORD)
    assert check.ok
    assert check.new_hash is None


async def _enable_mfa(db: Database, settings: Settings, seat: Seat) -> pyotp.TOTP:
    async with db.transaction(DbScope.tenant(seat.tenant_id, seat.user_id)) as s:
        secret, _ = await begin_mfa_enrolment(s, settings, seat.user_id)
    totp = pyotp.TOTP(secret)
    async with db.transaction(DbScope.tenant(seat.tenant_id, seat.user_id)) as s:
        # a code from the previous step: the current one stays unused for the login below
        await confirm_mfa(s, settings, seat.user_id, totp.at(utcnow() - timedelta(seconds=30)))
    return totp


async def test_login_with_mfa(db: Database, settings: Settings, owner_a: Seat) -> None:
    totp = await _enable_mfa(db, settings, owner_a)
    async with db.transaction(DbScope.auth()) as s:
        result = await login(s, settings, owner_a.email, PASSWORD)
    assert result.mfa_required
    assert result.tokens is None
    assert result.mfa_token is not None
    with pytest.raises(TokenInvalid):  # the challenge is not an access token
        decode_access_token(settings, result.mfa_token)
    with pytest.raises(InvalidCredentials, match="one-time code"):
        async with db.transaction(DbScope.auth()) as s:
            await complete_mfa_login(
                s, settings, result.mfa_token, "000000" if totp.now() != "000000" else "111111"
            )
    code = totp.now()
    async with db.transaction(DbScope.auth()) as s:
        tokens = await complete_mfa_login(s, settings, result.mfa_token, code)
    assert (tokens.tenant_id, tokens.role) == (owner_a.tenant_id, "owner")
    with pytest.raises(InvalidCredentials, match="one-time code"):  # the same code, replayed
        async with db.transaction(DbScope.auth()) as s:
            await complete_mfa_login(s, settings, result.mfa_token, code)
    with pytest.raises(TokenInvalid):
        async with db.transaction(DbScope.auth()) as s:
            await complete_mfa_login(s, settings, tokens.access_token, code)
    stale = issue_mfa_token(
        settings, user_id=owner_a.user_id, tenant_id=owner_a.tenant_id, now=utcnow() - timedelta(hours=1)
    )
    with pytest.raises(TokenExpired):
        async with db.transaction(DbScope.auth()) as s:
            await complete_mfa_login(s, settings, stale, totp.now())
    actions = await audit_actions(db, owner_a.tenant_id)
    assert actions[-1] == "session.login"
