"""TOTP multi-factor authentication (RFC 6238: 6 digits, 30-second steps, SHA-1, as every
authenticator app expects).

Key contracts:
- The TOTP secret is stored sealed (:mod:`smeflow.core.sealing`, purpose ``mfa-totp``, bound to
  the user's id), never in clear. Enrolment stores it with MFA still off; a first valid code
  turns MFA on.
- A code is accepted for the current step and one step either side (clock drift), and only if
  its step is later than the last step accepted for this user (``users.mfa_last_step``): a code
  is never accepted twice, not even in another login. The user row is locked while checking,
  so two concurrent logins cannot both spend one code.
- These functions change the user's own row: the session must be bound to a scope that may
  update it (``DbScope.tenant(tenant_id, user_id)``, or ``DbScope.auth()`` during login).
  With ``tenant_id`` given, enabling and disabling are recorded in that tenant's audit log
  (the session is then left bound to ``DbScope.tenant(tenant_id, user_id)``).
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime

import pyotp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import utcnow
from smeflow.core.sealing import seal, unseal
from smeflow.db import DbScope, bind_scope, publish_auth_change
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from smeflow.identity.models import User
from smeflow.settings import Settings

MFA_PURPOSE = "mfa-totp"
STEP_SECONDS = 30
DIGITS = 6
ISSUER_NAME = "SMEFlow"


async def _locked_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = (
        await session.execute(
            select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if user is None:
        raise NotFound("No such user")
    return user


def _secret(settings: Settings, user: User) -> str | None:
    if user.mfa_secret is None:
        return None
    return unseal(
        settings.secret_key.get_secret_value(), MFA_PURPOSE, user.mfa_secret, user.id.bytes
    ).decode()


def _consume(settings: Settings, user: User, code: str, now: datetime | None) -> bool:
    """True (and ``mfa_last_step`` advanced) if ``code`` is valid and not yet used."""
    secret = _secret(settings, user)
    code = code.replace(" ", "")
    if secret is None or len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return False
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int((now or utcnow()).timestamp()) // STEP_SECONDS
    last = user.mfa_last_step if user.mfa_last_step is not None else -1
    matched: int | None = None
    for step in (current - 1, current, current + 1):
        # compare every candidate (no early exit), so timing says nothing about which matched
        if hmac.compare_digest(str(totp.generate_otp(step)), code) and step > last and matched is None:
            matched = step
    if matched is None:
        return False
    user.mfa_last_step = matched
    return True


def _bad_code() -> ValidationFailed:
    message = "The one-time code is not valid"
    return ValidationFailed(message, fields=[FieldProblem("code", message, "invalid_code")])


async def begin_mfa_enrolment(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> tuple[str, str]:
    """Start enrolling the user in TOTP: returns ``(secret, otpauth_uri)`` to show once (as a QR
    code). MFA stays off until :func:`confirm_mfa`; enrolling again replaces a pending secret.
    Raises :class:`Conflict` if MFA is already on."""
    user = await _locked_user(session, user_id)
    if user.mfa_enabled:
        raise Conflict("Multi-factor authentication is already enabled; disable it first")
    secret = pyotp.random_base32()
    user.mfa_secret = seal(
        settings.secret_key.get_secret_value(), MFA_PURPOSE, secret.encode(), user.id.bytes
    )
    user.mfa_last_step = None
    await session.flush()
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER_NAME
    )
    return secret, str(uri)


async def confirm_mfa(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    code: str,
    *,
    tenant_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> None:
    """Turn MFA on with a first code from the authenticator app (:class:`ValidationFailed` naming
    ``code`` if it is wrong; :class:`Conflict` if there is no pending enrolment)."""
    user = await _locked_user(session, user_id)
    if user.mfa_enabled or user.mfa_secret is None:
        raise Conflict("There is no pending enrolment to confirm")
    if not _consume(settings, user, code, now):
        raise _bad_code()
    user.mfa_enabled = True
    await publish_auth_change(session)  # cached callers show mfa_enabled
    await session.flush()
    if tenant_id is not None:
        await bind_scope(session, DbScope.tenant(tenant_id, user_id))
        await record(session, tenant_id, Actor("user", str(user_id)), "mfa.enabled", "user", str(user_id))


async def verify_totp(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, code: str, *, now: datetime | None = None
) -> bool:
    """Whether ``code`` is a valid, unused code of the user's TOTP secret (enabled or pending).

    Accepts one step of drift either side; a code whose step is not after the last accepted
    step is refused (replay). On success the step is recorded (flushed, committed by the caller).
    """
    user = await _locked_user(session, user_id)
    ok = _consume(settings, user, code, now)
    if ok:
        await session.flush()
    return ok


async def disable_mfa(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    code: str,
    *,
    tenant_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> None:
    """Turn MFA off; needs a valid current code (:class:`ValidationFailed` naming ``code``)."""
    user = await _locked_user(session, user_id)
    if not user.mfa_enabled:
        raise Conflict("Multi-factor authentication is not enabled")
    if not _consume(settings, user, code, now):
        raise _bad_code()
    user.mfa_enabled = False
    await publish_auth_change(session)
    user.mfa_secret = None
    await session.flush()
    if tenant_id is not None:
        await bind_scope(session, DbScope.tenant(tenant_id, user_id))
        await record(session, tenant_id, Actor("user", str(user_id)), "mfa.disabled", "user", str(user_id))


__all__ = ["begin_mfa_enrolment", "confirm_mfa", "disable_mfa", "verify_totp"]
