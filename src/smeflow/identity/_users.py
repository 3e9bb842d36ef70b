"""Users (global accounts) and memberships (a user's role in one tenant).

Key contracts:
- An email is one account across all tenants: stored lower-case, unique ignoring case. Adding a
  member whose email already has an account gives that account a membership; the password and
  name passed in are then ignored (a tenant admin must not be able to set the password of an
  account that other tenants share).
- Role rules, for an actor that is a :class:`Principal`: nobody grants a role above their own,
  and only an owner grants, changes or removes the owner role; an actor from another tenant
  gets :class:`NotFound`. An actor given as a bare audit :class:`~smeflow.audit.Actor` is
  SMEFlow itself (the CLI, an operator bootstrapping a new tenant's first owner) and is not
  checked. A tenant always keeps at least one owner (:class:`Conflict`). Whether the caller
  may manage members at all (``users:write``) is the route's
  :meth:`~smeflow.identity.Authorizer.require`.
- Functions that take a tenant id expect the session bound to that tenant
  (``DbScope.tenant(tenant_id, user_id)``) and leave it so. :func:`add_member` looks the email
  up in ``DbScope.auth()`` for a moment (users of other tenants are invisible in the tenant's
  scope); :func:`remove_member` revokes the removed member's refresh tokens there, and
  :func:`change_role` tells API caches to re-read the member's logins.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import record
from smeflow.db import DbScope, bind_scope
from smeflow.errors import Conflict, FieldProblem, NotFound, QuotaExceeded, ValidationFailed
from smeflow.identity._acting import Acting, acting_user, audit_actor, check_may_assign, check_tenant
from smeflow.identity._passwords import hash_password
from smeflow.identity._roles import check_role
from smeflow.identity._sessions import publish_user_sessions, revoke_user_sessions
from smeflow.identity.models import Membership, User

MAX_NAME_LENGTH = 200
MAX_PAGE = 1000  # a guard; the API asks at most 201 (a page plus one)


@dataclass(frozen=True, slots=True)
class Member:
    """A user as a member of one tenant."""

    user_id: uuid.UUID
    email: str
    full_name: str
    role: str
    status: str
    mfa_enabled: bool
    joined_at: datetime


def _invalid(field: str, message: str, code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(message, fields=[FieldProblem(field, message, code)])


def normalize_email(email: str) -> str:
    """The stored form of an email (checked for syntax, lower-case); :class:`ValidationFailed`
    naming ``email`` if it is not an email address."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise _invalid("email", "This is not a valid email address") from None
    return checked.normalized.lower()


def _clean_name(full_name: str) -> str:
    name = full_name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise _invalid("full_name", f"The name must be at most {MAX_NAME_LENGTH} characters long")
    return name


def _member(membership: Membership, user: User) -> Member:
    return Member(
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=membership.role,
        status=user.status,
        mfa_enabled=user.mfa_enabled,
        joined_at=membership.created_at,
    )


async def create_user(
    session: AsyncSession,
    email: str,
    password: str | None,
    full_name: str,
    platform_role: str | None = None,
) -> User:
    """Create an account (no membership, not audited: there is no tenant yet).

    ``password`` ``None`` makes an account that cannot log in with a password (OIDC, or an
    invitation). :class:`Conflict` naming ``email`` if the email is taken.
    """
    normalized = normalize_email(email)
    name = _clean_name(full_name)
    if platform_role not in (None, "operator"):
        raise _invalid("platform_role", "The platform role must be 'operator' or empty")
    password_hash = await asyncio.to_thread(hash_password, password) if password is not None else None
    user = User(
        email=normalized,
        full_name=name,
        password_hash=password_hash,
        platform_role=platform_role,
        status="active",
        mfa_enabled=False,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:
        if "uq_users_email" not in str(exc.orig):
            raise
        message = "An account with this email already exists"
        raise Conflict(message, fields=[FieldProblem("email", message, "duplicate")]) from None
    return user


async def _membership(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> tuple[Membership, User]:
    query = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id, Membership.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update(of=Membership)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound("No such member")
    return row[0], row[1]


async def _other_owners(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
    # Lock every owner row, so two concurrent demotions cannot each leave the other as "last".
    owners = (
        await session.execute(
            select(Membership.user_id)
            .where(Membership.tenant_id == tenant_id, Membership.role == "owner")
            .with_for_update()
        )
    ).scalars()
    return sum(1 for owner in owners if owner != user_id)


async def add_member(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    email: str,
    role: str,
    password: str | None = None,
    full_name: str = "",
    *,
    max_members: int | None = None,
) -> Member:
    """Make ``email`` a member of the tenant with ``role``, creating the account if it is new.

    ``max_members`` is the tenant plan's limit (:class:`QuotaExceeded` when reached; a soft limit:
    two concurrent additions may both pass).

    Records ``user.created`` (new account) and ``membership.created``. :class:`Conflict` naming
    ``email`` if already a member; :class:`PermissionDenied` if the actor may not grant ``role``.
    """
    check_tenant(actor, tenant_id)
    check_role(role)
    check_may_assign(actor, role)
    normalized = normalize_email(email)
    await bind_scope(session, DbScope.auth())
    user = (
        await session.execute(select(User).where(func.lower(User.email) == normalized))
    ).scalar_one_or_none()
    await bind_scope(session, DbScope.tenant(tenant_id, acting_user(actor)))
    if max_members is not None:
        members = (await session.execute(select(func.count()).select_from(Membership))).scalar_one()
        if members >= max_members:
            raise QuotaExceeded(f"the tenant's plan allows {max_members} members; it has {members}")
    if user is None:
        user = await create_user(session, normalized, password, full_name)
        await record(session, tenant_id, audit_actor(actor), "user.created", "user", str(user.id))
    membership = Membership(tenant_id=tenant_id, user_id=user.id, role=role)
    try:
        async with session.begin_nested():
            session.add(membership)
            await session.flush()
    except IntegrityError as exc:
        if "pk_memberships" not in str(exc.orig):
            raise
        message = "This person is already a member"
        raise Conflict(message, fields=[FieldProblem("email", message, "duplicate")]) from None
    await record(
        session, tenant_id, audit_actor(actor), "membership.created", "user", str(user.id), {"role": role}
    )
    return _member(membership, user)


async def list_members(
    session: AsyncSession, tenant_id: uuid.UUID, limit: int = 50, after_user_id: uuid.UUID | None = None
) -> list[Member]:
    """The tenant's members in user-id order (ids are time-ordered), ``limit`` (1 to 200) at a time
    after ``after_user_id`` (the last id of the previous page)."""
    if not 1 <= limit <= MAX_PAGE:
        raise _invalid("limit", f"The limit must be between 1 and {MAX_PAGE}")
    # Columns, not entities: a list page needs no identity map (and never the password hash).
    query = (
        select(
            User.id,
            User.email,
            User.full_name,
            Membership.role,
            User.status,
            User.mfa_enabled,
            Membership.created_at,
        )
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(Membership.user_id)
        .limit(limit)
    )
    if after_user_id is not None:
        query = query.where(Membership.user_id > after_user_id)
    connection = await session.connection()  # Core execution: no ORM row processing
    return [Member(*row) for row in await connection.execute(query)]


async def get_member(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Member:
    """One member of the tenant; :class:`NotFound` if the user is not a member of *this* tenant."""
    return _member(*await _membership(session, tenant_id, user_id))


async def change_role(
    session: AsyncSession, actor: Acting, tenant_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> Member:
    """Give a member another role; records ``membership.updated``. :class:`Conflict` if it would
    leave the tenant without an owner."""
    check_tenant(actor, tenant_id)
    check_role(role)
    membership, user = await _membership(session, tenant_id, user_id, lock=True)
    if membership.role == role:
        return _member(membership, user)
    check_may_assign(actor, role, membership.role)
    if membership.role == "owner" and not await _other_owners(session, tenant_id, user_id):
        raise Conflict("A tenant needs at least one owner: make someone else owner first")
    previous = membership.role
    membership.role = role
    await session.flush()
    await bind_scope(session, DbScope.auth())
    await publish_user_sessions(session, user_id, tenant_id)
    await bind_scope(session, DbScope.tenant(tenant_id, acting_user(actor)))
    await record(
        session,
        tenant_id,
        audit_actor(actor),
        "membership.updated",
        "user",
        str(user_id),
        {"from": previous, "to": role},
    )
    return _member(membership, user)


async def remove_member(
    session: AsyncSession, actor: Acting, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove a member from the tenant (the account stays) and revoke their refresh tokens in
    it; records ``membership.removed``. :class:`Conflict` for the last owner."""
    check_tenant(actor, tenant_id)
    membership, _ = await _membership(session, tenant_id, user_id, lock=True)
    check_may_assign(actor, membership.role, membership.role)
    if membership.role == "owner" and not await _other_owners(session, tenant_id, user_id):
        raise Conflict("A tenant needs at least one owner: make someone else owner first")
    role = membership.role
    await session.execute(
        delete(Membership)
        .where(Membership.tenant_id == tenant_id, Membership.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    session.expunge(membership)
    await bind_scope(session, DbScope.auth())
    await revoke_user_sessions(session, user_id, tenant_id)
    await bind_scope(session, DbScope.tenant(tenant_id, acting_user(actor)))
    await record(
        session, tenant_id, audit_actor(actor), "membership.removed", "user", str(user_id), {"role": role}
    )


async def set_platform_role(session: AsyncSession, user_id: uuid.UUID, platform_role: str | None) -> User:
    """Make a user a platform operator (``"operator"``) or not (``None``). Not audited (the
    platform has no audit chain of its own yet). Needs ``DbScope.platform()``."""
    if platform_role not in (None, "operator"):
        raise _invalid("platform_role", "The platform role must be 'operator' or empty")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user")
    user.platform_role = platform_role
    await session.flush()
    return user


__all__ = [
    "Member",
    "set_platform_role",
    "add_member",
    "change_role",
    "create_user",
    "get_member",
    "list_members",
    "normalize_email",
    "remove_member",
]
