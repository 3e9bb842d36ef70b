"""Logging in, refreshing and logging out: access tokens plus rotating refresh tokens.

Key contracts:
- A login is a *family* of refresh tokens (``auth_sessions`` rows sharing ``family_id``; the
  family id is the ``sid`` of every access token of that login). A refresh token is
  ``<row id>.<secret>``; only SHA-256 of the secret is stored.
- Every refresh rotates: the presented row is marked rotated and a new row joins the family.
  Presenting a rotated token again means two parties hold it (theft or a replay): the whole
  family is revoked and :class:`RefreshTokenReused` is raised. **That revocation is flushed in
  the caller's transaction, which must commit it before answering** (catch the error inside
  the ``transaction`` block, let the block commit, then re-raise), or the thief keeps the
  family alive.
- A refresh re-reads the user and the membership: a disabled user, a removed member or a
  suspended tenant gets no new tokens, and a changed role takes effect at the next refresh.
  :func:`session_principal` does the same re-reading for an access token (per request, or
  cached by the API: revocations announce the cache key, see ``_revocation.py``).
- Every credential failure answers with the same :class:`~smeflow.errors.InvalidCredentials`
  message (unknown email, wrong password, disabled account, a tenant the user is not in).
- These functions bind the scopes they need themselves: ``DbScope.auth()`` to find the user
  and sessions, then the tenant's scope to write the audit record, in which the session is
  left bound.
- ``auth_sessions.tenant_id`` is NOT NULL, so an operator logging in outside any tenant gets
  an access token without a refresh token (and ``sid``); they log in again when it expires.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import new_id, new_token, utcnow
from smeflow.db import DbScope, bind_scope
from smeflow.errors import FieldProblem, InvalidCredentials, ValidationFailed
from smeflow.identity._mfa import verify_totp
from smeflow.identity._passwords import verify_password
from smeflow.identity._revocation import publish_revocation, session_cache_key
from smeflow.identity._tokens import AccessClaims, decode_mfa_token, issue_access_token, issue_mfa_token
from smeflow.identity.models import AuthSession, Membership, User
from smeflow.identity.principal import Principal
from smeflow.settings import Settings
from smeflow.tenancy.models import Tenant

_BAD_LOGIN = "The email, password or tenant is not valid"
_BAD_REFRESH = "The refresh token is not valid; log in again"
_BAD_CODE = "The one-time code is not valid"
_ENDED = "This login has ended; log in again"
_SECRET_BYTES = 32


class RefreshTokenReused(InvalidCredentials):
    """A rotated refresh token was presented again: its whole family has been revoked.

    The revocation is flushed but not committed: the caller must commit its transaction
    before answering (see the module notes). Clients see the usual invalid-credentials answer.
    """


@dataclass(frozen=True, slots=True)
class Tokens:
    """What a successful login or refresh hands the client.

    ``refresh_token`` and ``session_id`` are ``None`` for an operator outside any tenant.
    """

    access_token: str
    expires_in: int
    refresh_token: str | None
    session_id: uuid.UUID | None
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None
    role: str | None
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """Either ``tokens`` (logged in) or ``mfa_token`` (send it back with a one-time code to
    :func:`complete_mfa_login`)."""

    tokens: Tokens | None = None
    mfa_token: str | None = None

    @property
    def mfa_required(self) -> bool:
        return self.mfa_token is not None


@dataclass(frozen=True, slots=True)
class _Seat:
    """Where a login lands: a tenant and a role in it, or no tenant (operators)."""

    tenant_id: uuid.UUID | None
    role: str | None
    tier: str | None = None


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _parse_refresh(token: str) -> tuple[uuid.UUID, str]:
    row_id, _, secret = token.partition(".")
    try:
        parsed = uuid.UUID(row_id)
    except ValueError:
        raise InvalidCredentials(_BAD_REFRESH) from None
    if not 32 <= len(secret) <= 128:
        raise InvalidCredentials(_BAD_REFRESH)
    return parsed, secret


async def _seats(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[uuid.UUID, str, str]]:
    rows = await session.execute(
        select(Membership.tenant_id, Membership.role, Tenant.slug)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id, Tenant.status == "active")
        .order_by(Tenant.slug)
    )
    return [(r.tenant_id, r.role, r.slug) for r in rows]


async def _pick_seat(session: AsyncSession, user: User, tenant_slug: str | None) -> _Seat:
    seats = await _seats(session, user.id)
    if tenant_slug is not None:
        wanted = tenant_slug.strip().lower()
        for tenant_id, role, slug in seats:
            if slug == wanted:
                return _Seat(tenant_id, role)
        raise InvalidCredentials(_BAD_LOGIN)
    if len(seats) == 1:
        return _Seat(seats[0][0], seats[0][1])
    if not seats:
        if user.platform_role == "operator":
            return _Seat(None, None)
        raise InvalidCredentials(_BAD_LOGIN)
    slugs = [slug for _, _, slug in seats]
    message = f"Choose a tenant: one of {', '.join(slugs)}"
    raise ValidationFailed(
        message, fields=[FieldProblem("tenant", message, "tenant_required")], extra={"tenants": slugs}
    )


async def _seat_now(session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID) -> _Seat | None:
    """The user's current seat in an active tenant (``None`` if no longer a member)."""
    row = (
        await session.execute(
            select(Membership.role, Tenant.tier)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(
                Membership.user_id == user_id, Membership.tenant_id == tenant_id, Tenant.status == "active"
            )
        )
    ).one_or_none()
    return None if row is None else _Seat(tenant_id, row.role, row.tier)


async def _issue(
    session: AsyncSession,
    settings: Settings,
    user: User,
    seat: _Seat,
    *,
    family_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Tokens:
    """A new refresh-token row (a new family unless ``family_id``) and an access token."""
    now = now or utcnow()
    refresh: str | None = None
    sid: uuid.UUID | None = None
    if seat.tenant_id is not None:
        sid = family_id or new_id()
        secret = new_token(_SECRET_BYTES)
        row = AuthSession(
            id=new_id(),
            user_id=user.id,
            tenant_id=seat.tenant_id,
            family_id=sid,
            token_hash=_hash(secret),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_seconds),
        )
        session.add(row)
        await session.flush()
        refresh = f"{row.id}.{secret}"
    access = issue_access_token(
        settings,
        user_id=user.id,
        tenant_id=seat.tenant_id,
        role=seat.role,
        session_id=sid,
        platform_role=user.platform_role,
        now=now,
    )
    return Tokens(
        access_token=access,
        expires_in=settings.access_token_seconds,
        refresh_token=refresh,
        session_id=sid,
        user_id=user.id,
        tenant_id=seat.tenant_id,
        role=seat.role,
    )


async def _audit_login(session: AsyncSession, tokens: Tokens, method: str) -> None:
    if tokens.tenant_id is None:
        return  # an operator outside any tenant: there is no tenant audit chain to write to
    await bind_scope(session, DbScope.tenant(tokens.tenant_id, tokens.user_id))
    await record(
        session,
        tokens.tenant_id,
        Actor("user", str(tokens.user_id)),
        "session.login",
        "session",
        str(tokens.session_id),
        {"method": method},
    )


async def login(
    session: AsyncSession, settings: Settings, email: str, password: str, tenant_slug: str | None = None
) -> LoginResult:
    """Check an email and password and open a session in a tenant.

    The tenant is ``tenant_slug`` (the user must be a member), else the user's only tenant; an
    operator with no membership gets a token outside any tenant. Several tenants and no slug:
    :class:`ValidationFailed` naming ``tenant`` (listing the user's own slugs). With MFA on,
    the result carries an ``mfa_token`` instead of tokens. Records ``session.login``.
    """
    await bind_scope(session, DbScope.auth())
    user = (
        await session.execute(select(User).where(func.lower(User.email) == email.strip().lower()))
    ).scalar_one_or_none()
    check = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None or not check.ok or user.status != "active":
        raise InvalidCredentials(_BAD_LOGIN)
    if check.new_hash is not None:
        user.password_hash = check.new_hash
        await session.flush()
    seat = await _pick_seat(session, user, tenant_slug)
    if user.mfa_enabled:
        return LoginResult(mfa_token=issue_mfa_token(settings, user_id=user.id, tenant_id=seat.tenant_id))
    tokens = await _issue(session, settings, user, seat)
    await _audit_login(session, tokens, "password")
    return LoginResult(tokens=tokens)


async def complete_mfa_login(session: AsyncSession, settings: Settings, mfa_token: str, code: str) -> Tokens:
    """Second login step: the MFA challenge from :func:`login` plus a current one-time code.

    A wrong or already used code is :class:`~smeflow.errors.InvalidCredentials`; an expired
    challenge is :class:`~smeflow.identity.TokenExpired` (log in again). Records ``session.login``.
    """
    claims = decode_mfa_token(settings, mfa_token)
    await bind_scope(session, DbScope.auth())
    user = await session.get(User, claims.sub)
    if user is None or user.status != "active" or not user.mfa_enabled:
        raise InvalidCredentials(_BAD_LOGIN)
    if not await verify_totp(session, settings, user.id, code):
        raise InvalidCredentials(_BAD_CODE)
    seat: _Seat | None = _Seat(None, None)
    if claims.tid is not None:
        seat = await _seat_now(session, user.id, claims.tid)
    if seat is None:
        raise InvalidCredentials(_BAD_LOGIN)
    tokens = await _issue(session, settings, user, seat)
    await _audit_login(session, tokens, "password+totp")
    return tokens


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.family_id == family_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def refresh(session: AsyncSession, settings: Settings, refresh_token: str) -> Tokens:
    """Trade a refresh token for new tokens, rotating it (the old one stops working).

    A rotated token presented again revokes its whole family and raises
    :class:`RefreshTokenReused`, whose revocation the caller must commit (see module notes).
    """
    now = utcnow()
    row_id, secret = _parse_refresh(refresh_token)
    await bind_scope(session, DbScope.auth())
    row = (
        await session.execute(
            select(AuthSession)
            .where(AuthSession.id == row_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, _hash(secret)) or row.revoked_at is not None:
        raise InvalidCredentials(_BAD_REFRESH)
    if row.rotated_at is not None:
        await _revoke_family(session, row.family_id, now)
        await publish_revocation(session, session_cache_key(row.family_id, row.tenant_id))
        await bind_scope(session, DbScope.tenant(row.tenant_id, row.user_id))
        await record(
            session,
            row.tenant_id,
            Actor.system(),
            "session.revoked",
            "session",
            str(row.family_id),
            {"reason": "refresh_token_reused", "user_id": str(row.user_id)},
        )
        raise RefreshTokenReused(_BAD_REFRESH)
    if row.expires_at <= now:
        raise InvalidCredentials(_BAD_REFRESH)
    user = await session.get(User, row.user_id)
    seat = await _seat_now(session, row.user_id, row.tenant_id)
    if user is None or user.status != "active" or seat is None:
        raise InvalidCredentials(_BAD_REFRESH)
    row.rotated_at = now
    return await _issue(session, settings, user, seat, family_id=row.family_id, now=now)


async def logout(
    session: AsyncSession,
    *,
    refresh_token: str | None = None,
    session_id: uuid.UUID | None = None,
) -> bool:
    """Revoke a login (its whole refresh-token family), named by one of its refresh tokens or by
    its session id (the access token's ``sid``: pass only an id taken from a verified token).

    Returns whether anything was revoked (an unknown or already revoked login is not an
    error). Records ``session.revoked``.
    """
    if (refresh_token is None) == (session_id is None):
        raise ValueError("pass exactly one of refresh_token and session_id")
    await bind_scope(session, DbScope.auth())
    if refresh_token is not None:
        try:
            row_id, secret = _parse_refresh(refresh_token)
        except InvalidCredentials:
            return False
        row = await session.get(AuthSession, row_id)
        if row is None or not hmac.compare_digest(row.token_hash, _hash(secret)):
            return False
    else:
        row = (
            await session.execute(select(AuthSession).where(AuthSession.family_id == session_id).limit(1))
        ).scalar_one_or_none()
        if row is None:
            return False
    family_id, tenant_id, user_id = row.family_id, row.tenant_id, row.user_id
    if not await _revoke_family(session, family_id, utcnow()):
        return False
    await publish_revocation(session, session_cache_key(family_id, tenant_id))
    await bind_scope(session, DbScope.tenant(tenant_id, user_id))
    await record(
        session,
        tenant_id,
        Actor("user", str(user_id)),
        "session.revoked",
        "session",
        str(family_id),
        {"reason": "logout"},
    )
    return True


async def revoke_user_sessions(
    session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID | None = None
) -> int:
    """Revoke every live refresh token of a user (in one tenant, or everywhere); the count.

    The session must be bound to ``DbScope.auth()`` or to a scope of that same user.
    """
    result = await session.execute(
        update(AuthSession)
        .where(*_live_of(user_id, tenant_id))
        .values(revoked_at=utcnow())
        .returning(AuthSession.family_id, AuthSession.tenant_id)
        .execution_options(synchronize_session=False)
    )
    rows = result.all()
    for family_id, family_tenant in {(r[0], r[1]) for r in rows}:
        await publish_revocation(session, session_cache_key(family_id, family_tenant))
    return len(rows)


def _live_of(user_id: uuid.UUID, tenant_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
    conditions = [AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)]
    if tenant_id is not None:
        conditions.append(AuthSession.tenant_id == tenant_id)
    return conditions


async def publish_user_sessions(session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    """Tell API caches to re-read every live login of a user in a tenant (after a role change).
    Needs ``DbScope.auth()``."""
    live = select(AuthSession.family_id).where(*_live_of(user_id, tenant_id)).distinct()
    families = await session.execute(live)
    for family_id in families.scalars():
        await publish_revocation(session, session_cache_key(family_id, tenant_id))


async def is_session_active(session: AsyncSession, session_id: uuid.UUID) -> bool:
    """Whether the login ``session_id`` (an access token's ``sid``) is still live: not logged out,
    not revoked, not expired. For request authentication that must notice a logout before the
    access token expires. Needs ``DbScope.auth()`` or the user's own scope."""
    live = exists().where(
        AuthSession.family_id == session_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.rotated_at.is_(None),
        AuthSession.expires_at > utcnow(),
    )
    return bool((await session.execute(select(live))).scalar())


async def session_principal(session: AsyncSession, claims: AccessClaims) -> Principal:
    """The caller of a verified access token, re-checked against the database: the login is
    still live (not logged out or revoked), the user active, and the role the user has *now*
    in an active tenant (with the tenant's tier). :class:`InvalidCredentials` otherwise.

    Needs ``DbScope.auth()`` (or ``DbScope.auth(claims.sub)``). Callers may cache the answer
    under :func:`~smeflow.identity.session_cache_key` for a few seconds: revocations and role
    changes announce that key (see :mod:`smeflow.identity._revocation`).
    """
    if claims.sid is not None and not await is_session_active(session, claims.sid):
        raise InvalidCredentials(_ENDED)
    user = await session.get(User, claims.sub)
    if user is None or user.status != "active":
        raise InvalidCredentials(_ENDED)
    seat: _Seat | None = _Seat(None, None)
    if claims.tid is not None:
        seat = await _seat_now(session, user.id, claims.tid)
    elif user.platform_role != "operator":
        seat = None
    if seat is None:
        raise InvalidCredentials(_ENDED)
    return Principal(
        kind="user",
        tenant_id=seat.tenant_id,
        role=seat.role,
        user_id=user.id,
        session_id=claims.sid,
        platform_role=user.platform_role,
        tier=seat.tier,
    )


__all__ = [
    "LoginResult",
    "publish_user_sessions",
    "session_principal",
    "RefreshTokenReused",
    "Tokens",
    "complete_mfa_login",
    "is_session_active",
    "login",
    "logout",
    "refresh",
    "revoke_user_sessions",
]
