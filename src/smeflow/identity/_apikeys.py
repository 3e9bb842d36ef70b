"""A tenant's API keys: ``smf_<prefix>_<secret>``.

Key contracts:
- The prefix (10 letters and digits) finds the key; only SHA-256 of the secret (32 random
  bytes) is stored. A plain hash suffices: the secret has 256 bits of entropy, and the check
  runs on every request, so a slow password hash would only cost time.
- A key acts with its ``role`` in its tenant, narrowed by its ``scopes`` (permission strings
  ``"obj:act"``, or ``"*"`` for everything its role allows). Nobody creates or revokes a key
  with a role above their own (only owners touch owner keys), and a key creating a key cannot
  widen its own scopes. A bare audit ``Actor`` (the CLI) is not checked.
- :func:`authenticate_api_key` answers every failure (malformed, unknown, wrong secret,
  revoked, expired, tenant not active) with one :class:`InvalidCredentials`, compares with
  :func:`hmac.compare_digest`, and writes ``last_used_at`` at most once a minute per key.
  Its session must be bound to ``DbScope.auth()``; the other functions want the tenant's scope
  (other tenants' keys are invisible there: :class:`NotFound`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import record
from smeflow.core import new_id, utcnow
from smeflow.errors import (
    FieldProblem,
    InvalidCredentials,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ValidationFailed,
)
from smeflow.identity._acting import Acting, acting_user, audit_actor, check_may_assign, check_tenant
from smeflow.identity._revocation import EVERYTHING, publish_revocation
from smeflow.identity._roles import check_role
from smeflow.identity.models import ApiKey
from smeflow.identity.principal import Principal
from smeflow.tenancy.models import Tenant

KEY_MARK = "smf_"
PREFIX_LENGTH = 10
SECRET_BYTES = 32
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_NAME_LENGTH = 200
_PREFIX_ALPHABET = string.ascii_letters + string.digits
_SCOPE = re.compile(r"\*|[a-z][a-z0-9_]*:[a-z][a-z0-9_]*")
_BAD_KEY = "The API key is not valid"
_DUMMY_HASH = hashlib.sha256(b"no such key").digest()


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields=[FieldProblem(field, message)])


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _parse(plaintext: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else ``None``."""
    head = len(KEY_MARK) + PREFIX_LENGTH
    if not plaintext.startswith(KEY_MARK) or len(plaintext) > 200 or plaintext[head : head + 1] != "_":
        return None
    prefix, secret = plaintext[len(KEY_MARK) : head], plaintext[head + 1 :]
    if not (prefix.isascii() and prefix.isalnum()) or len(secret) < 32:
        return None
    return prefix, secret


def _check_scopes(actor: Acting, scopes: list[str]) -> list[str]:
    if not scopes:
        raise _invalid("scopes", "Give at least one scope (a permission such as audit:read, or *)")
    wanted = sorted(set(scopes))
    for scope in wanted:
        if not _SCOPE.fullmatch(scope):
            raise _invalid("scopes", f"'{scope}' is not a permission such as audit:read, or *")
    own = actor.scopes if isinstance(actor, Principal) else None
    if own is not None and "*" not in own and not set(wanted) <= own:
        raise PermissionDenied("A key may not create a key with scopes beyond its own")
    return wanted


async def create_api_key(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    name: str,
    role: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    *,
    max_keys: int | None = None,
) -> tuple[str, ApiKey]:
    """Create a key; returns ``(plaintext, key)``. The plaintext is shown once and never stored.

    Records ``apikey.created``. :class:`ValidationFailed` names ``name``, ``role``, ``scopes`` or
    ``expires_at``; :class:`PermissionDenied` if ``role`` is above the actor's own.
    """
    check_tenant(actor, tenant_id)
    clean_name = name.strip()
    if not 1 <= len(clean_name) <= MAX_NAME_LENGTH:
        raise _invalid("name", f"The name must be 1 to {MAX_NAME_LENGTH} characters long")
    check_role(role)
    check_may_assign(actor, role)
    wanted = _check_scopes(actor, scopes)
    if max_keys is not None:
        live = select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        count = (await session.execute(live)).scalar_one()
        if count >= max_keys:
            raise QuotaExceeded(f"the tenant's plan allows {max_keys} live API keys; revoke one first")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise _invalid("expires_at", "The expiry must be a future time with a time zone")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    for attempt in range(3):
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        key = ApiKey(
            tenant_id=tenant_id,
            id=new_id(),
            name=clean_name,
            prefix=prefix,
            secret_hash=_digest(secret),
            role=role,
            scopes=wanted,
            created_by=acting_user(actor),
            expires_at=expires_at,
        )
        try:
            async with session.begin_nested():
                session.add(key)
                await session.flush()
            break
        except IntegrityError as exc:  # a prefix collision (1 in 62^10): draw another
            if "uq_api_keys_prefix" not in str(exc.orig) or attempt == 2:
                raise
    await record(
        session,
        tenant_id,
        audit_actor(actor),
        "apikey.created",
        "api_key",
        str(key.id),
        {"name": clean_name, "role": role, "scopes": wanted, "prefix": prefix},
    )
    return f"{KEY_MARK}{prefix}_{secret}", key


async def list_api_keys(
    session: AsyncSession, tenant_id: uuid.UUID, include_revoked: bool = True
) -> list[ApiKey]:
    """The tenant's keys, newest first (the secret hash is on the rows: never send it out)."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at.desc())
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list((await session.execute(query)).scalars())


async def get_api_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    """One of the tenant's keys; :class:`NotFound` for an unknown key or one of another tenant."""
    key = (
        await session.execute(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id))
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("No such API key")
    return key


async def revoke_api_key(
    session: AsyncSession, actor: Acting, tenant_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey:
    """Revoke a key at once (idempotent); records ``apikey.revoked``. :class:`NotFound` for a key
    of another tenant; :class:`PermissionDenied` for a key whose role is above the actor's."""
    check_tenant(actor, tenant_id, "API key")
    key = (
        await session.execute(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id).with_for_update()
        )
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("No such API key")
    check_may_assign(actor, key.role, key.role)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        await publish_revocation(session, EVERYTHING)
        await record(
            session,
            tenant_id,
            audit_actor(actor),
            "apikey.revoked",
            "api_key",
            str(key.id),
            {"name": key.name},
        )
    return key


async def authenticate_api_key(
    session: AsyncSession, plaintext: str, *, now: datetime | None = None
) -> Principal:
    """The principal of a presented key; :class:`InvalidCredentials` if it is not a live key.

    The session must be bound to ``DbScope.auth()``.
    """
    now = now or utcnow()
    parsed = _parse(plaintext)
    prefix, secret = parsed or ("", "")
    row = None
    if parsed is not None:
        row = (
            await session.execute(
                select(ApiKey, Tenant.status, Tenant.tier)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.prefix == prefix)
            )
        ).one_or_none()
    key, tenant_status, tier = (row[0], row[1], row[2]) if row is not None else (None, None, None)
    matches = hmac.compare_digest(key.secret_hash if key else _DUMMY_HASH, _digest(secret))
    if (
        key is None
        or not matches
        or key.revoked_at is not None
        or (key.expires_at is not None and key.expires_at <= now)
        or tenant_status != "active"
    ):
        raise InvalidCredentials(_BAD_KEY)
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL:
        await session.execute(
            update(ApiKey)
            .where(
                ApiKey.tenant_id == key.tenant_id,
                ApiKey.id == key.id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - TOUCH_INTERVAL),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return Principal(
        kind="api_key",
        tenant_id=key.tenant_id,
        role=key.role,
        user_id=None,
        api_key_id=key.id,
        scopes=frozenset(key.scopes),
        tier=tier,
    )


__all__ = ["authenticate_api_key", "create_api_key", "get_api_key", "list_api_keys", "revoke_api_key"]
