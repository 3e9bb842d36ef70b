"""Our own bearer tokens: short-lived access JWTs and the MFA challenge of a two-step login.

Key contracts:
- HS256 only, signed with keys derived from ``settings.secret_key`` (one key per token type,
  so an MFA challenge can never pass as an access token even before ``typ`` is checked).
  ``alg: none`` and every other algorithm are refused; so are a wrong issuer or audience, an
  expired token, a missing claim and a non-canonical encoding (base64 with stray characters or
  padding bits that a lenient decoder would ignore).
- Every refusal is a :class:`~smeflow.errors.NotAuthenticated`: :class:`TokenExpired` (the
  client should refresh) or :class:`TokenInvalid`, whose message never says what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from smeflow.core import new_token, utcnow
from smeflow.core.sealing import derive_key
from smeflow.errors import NotAuthenticated
from smeflow.identity._roles import ROLES
from smeflow.identity.principal import Principal
from smeflow.settings import Settings

ALGORITHM = "HS256"
LEEWAY_SECONDS = 10  # clock skew between the machines that issue and check tokens
MAX_TOKEN_LENGTH = 4096
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "typ", "jti"]


class TokenInvalid(NotAuthenticated):
    """The token is malformed, forged, or not meant for us."""

    code = "token_invalid"
    title = "The token is not valid"


class TokenExpired(NotAuthenticated):
    """The token was valid but has expired (refresh it, or log in again)."""

    code = "token_expired"
    title = "The token has expired"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token, named as in the token: ``sub`` the user, ``tid``
    the tenant (``None`` outside any tenant), ``sid`` the login session, ``role`` the role in
    the tenant, ``platform_role`` (claim ``prole``), ``iat``/``exp`` as UTC datetimes."""

    sub: uuid.UUID
    tid: uuid.UUID | None
    role: str | None
    sid: uuid.UUID | None
    platform_role: str | None
    iat: datetime
    exp: datetime
    jti: str

    def principal(self) -> Principal:
        """The caller these claims describe, as the token says (without re-reading the database:
        see :func:`~smeflow.identity.session_principal` for that)."""
        return Principal(
            kind="user",
            tenant_id=self.tid,
            role=self.role,
            user_id=self.sub,
            session_id=self.sid,
            platform_role=self.platform_role,
        )


@dataclass(frozen=True, slots=True)
class MfaClaims:
    """The verified claims of an MFA challenge: who (``sub``) passed the password step, for which
    tenant (``tid``)."""

    sub: uuid.UUID
    tid: uuid.UUID | None
    exp: datetime
    jti: str


def _key(settings: Settings, typ: str) -> bytes:
    return derive_key(settings.secret_key.get_secret_value(), f"jwt/{typ}")


def _encode(settings: Settings, typ: str, claims: dict[str, Any], lifetime: int, now: datetime | None) -> str:
    issued = int((now or utcnow()).timestamp())
    payload = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "typ": typ,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": new_token(12),
        **{k: v for k, v in claims.items() if v is not None},
    }
    return jwt.encode(payload, _key(settings, typ), algorithm=ALGORITHM)


def _canonical(segment: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return False
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == segment


def _decode(settings: Settings, token: str, typ: str) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid()
    segments = token.split(".")
    if len(segments) != 3 or not all(segments) or not all(_canonical(s) for s in segments):
        raise TokenInvalid()
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            _key(settings, typ),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": _REQUIRED, "verify_signature": True},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    if payload.get("typ") != typ or not isinstance(payload.get("jti"), str):
        raise TokenInvalid()
    return payload


def _opt_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else _uuid(value)


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise TokenInvalid()
    try:
        return uuid.UUID(value)
    except ValueError:
        raise TokenInvalid() from None


def _time(value: Any) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenInvalid()
    return datetime.fromtimestamp(value, UTC)


def issue_access_token(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
    role: str | None,
    session_id: uuid.UUID | None,
    platform_role: str | None = None,
    now: datetime | None = None,
) -> str:
    """A signed access token for ``settings.access_token_seconds`` from ``now``."""
    claims = {
        "sub": str(user_id),
        "tid": str(tenant_id) if tenant_id else None,
        "role": role,
        "sid": str(session_id) if session_id else None,
        "prole": platform_role,
    }
    return _encode(settings, "access", claims, settings.access_token_seconds, now)


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """Verify an access token and return its claims; raises :class:`TokenExpired` or
    :class:`TokenInvalid` (both :class:`~smeflow.errors.NotAuthenticated`)."""
    payload = _decode(settings, token, "access")
    tenant_id = _opt_uuid(payload.get("tid"))
    role = payload.get("role")
    platform_role = payload.get("prole")
    if role is not None and (role not in ROLES or tenant_id is None):
        raise TokenInvalid()
    if platform_role not in (None, "operator"):
        raise TokenInvalid()
    return AccessClaims(
        sub=_uuid(payload["sub"]),
        tid=tenant_id,
        role=role,
        sid=_opt_uuid(payload.get("sid")),
        platform_role=platform_role,
        iat=_time(payload["iat"]),
        exp=_time(payload["exp"]),
        jti=payload["jti"],
    )


def issue_mfa_token(
    settings: Settings, *, user_id: uuid.UUID, tenant_id: uuid.UUID | None, now: datetime | None = None
) -> str:
    """A short-lived (``settings.mfa_token_seconds``) proof that the password step passed."""
    claims = {"sub": str(user_id), "tid": str(tenant_id) if tenant_id else None}
    return _encode(settings, "mfa", claims, settings.mfa_token_seconds, now)


def decode_mfa_token(settings: Settings, token: str) -> MfaClaims:
    """Verify an MFA challenge token (same refusals as :func:`decode_access_token`)."""
    payload = _decode(settings, token, "mfa")
    return MfaClaims(
        sub=_uuid(payload["sub"]),
        tid=_opt_uuid(payload.get("tid")),
        exp=_time(payload["exp"]),
        jti=payload["jti"],
    )


__all__ = [
    "AccessClaims",
    "MfaClaims",
    "TokenExpired",
    "TokenInvalid",
    "decode_access_token",
    "decode_mfa_token",
    "issue_access_token",
    "issue_mfa_token",
]
