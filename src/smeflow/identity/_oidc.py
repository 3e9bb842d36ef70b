"""Bearer tokens from an external OpenID Connect issuer (Keycloak or any other), checked
against the issuer's published keys (JWKS).

Key contracts:
- Only asymmetric algorithms (those of ``OidcSettings.algorithms`` among RS*, PS*, ES*, EdDSA)
  are accepted: an ``HS256`` token "signed" with the issuer's public key, or ``alg: none``,
  never passes. The issuer, audience, expiry and the key (by ``kid``; a key's own ``alg``
  must agree with the token's) are all checked.
- JWKS: from ``jwks_url``, else from the issuer's discovery document. Cached for
  ``jwks_cache_seconds``; a token with an unknown ``kid`` (the issuer rotated its keys)
  refetches at once, but never more often than every :data:`MIN_REFETCH_SECONDS`, so junk
  tokens cannot make us hammer the issuer. If the issuer is unreachable, the keys we have
  keep working; with none at all the answer is :class:`~smeflow.errors.Unavailable`.
- :func:`map_oidc_principal` turns verified claims into a :class:`Principal`: the tenant from
  the tenant claim (a slug), the highest SMEFlow role among the prefixed roles, the user by
  (issuer, subject), else by email (unless the issuer says the email is unverified), else
  created when ``auto_provision``. The issuer is the source of truth for the role: a
  membership whose role differs is updated (and audited).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.db import DbScope, bind_scope
from smeflow.errors import InvalidCredentials, PermissionDenied, Unavailable, ValidationFailed
from smeflow.identity._roles import highest_role
from smeflow.identity._tokens import TokenExpired, TokenInvalid
from smeflow.identity._users import create_user, normalize_email
from smeflow.identity.models import ExternalIdentity, Membership, User
from smeflow.identity.principal import Principal
from smeflow.settings import OidcSettings
from smeflow.tenancy.models import Tenant

logger = logging.getLogger(__name__)

MIN_REFETCH_SECONDS = 10.0
LEEWAY_SECONDS = 30
HTTP_TIMEOUT = 5.0
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
_SYSTEM = Actor.system("oidc")


class OidcVerifier:
    """Verifies bearer tokens of one issuer; keep one per process (it caches the issuer's keys)."""

    def __init__(
        self,
        settings: OidcSettings,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._http = http
        self._clock = clock
        self._algorithms = [a for a in settings.algorithms if a in ASYMMETRIC]
        self._jwks_url = settings.jwks_url
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; :class:`~smeflow.identity.TokenInvalid` or
        :class:`~smeflow.identity.TokenExpired` otherwise (messages say nothing more)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenInvalid() from None
        alg = header.get("alg")
        kid = header.get("kid")
        if alg not in self._algorithms or (kid is not None and not isinstance(kid, str)):
            raise TokenInvalid()
        jwk = await self._key(kid)
        if jwk is None or jwk.get("alg", alg) != alg:
            raise TokenInvalid()
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.PyJWTError:
            raise TokenInvalid() from None
        return claims

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is not None:
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _key(self, kid: str | None) -> dict[str, Any] | None:
        if self._stale():
            await self._refresh(self._stale)
        jwk = self._find(kid)
        if jwk is None and self._may_refetch():
            await self._refresh(lambda: self._find(kid) is None and self._may_refetch())
            jwk = self._find(kid)
        if jwk is None and not self._keys:  # never got any keys: the issuer is down, not the token bad
            raise Unavailable("The identity provider's keys could not be fetched")
        return jwk

    def _stale(self) -> bool:
        if self._fetched_at is None:
            return self._may_refetch()
        return self._clock() - self._fetched_at >= self.settings.jwks_cache_seconds and self._may_refetch()

    def _may_refetch(self) -> bool:
        return self._tried_at is None or self._clock() - self._tried_at >= MIN_REFETCH_SECONDS

    async def _refresh(self, still_needed: Callable[[], bool]) -> None:
        async with self._lock:
            if not still_needed():  # another task fetched while we waited
                return
            self._tried_at = self._clock()
            try:
                self._keys = await self._fetch()
                self._fetched_at = self._clock()
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                logger.warning("could not fetch the JWKS of %s: %s", self.settings.issuer, exc)
                if not self._keys:
                    raise Unavailable("The identity provider's keys could not be fetched") from None

    async def _fetch(self) -> dict[str, dict[str, Any]]:
        if self._jwks_url is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            response = await self._http.get(url, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            discovery = response.json()
            if discovery.get("issuer") != self.settings.issuer or not isinstance(discovery["jwks_uri"], str):
                raise ValueError("the discovery document names another issuer or no jwks_uri")
            self._jwks_url = discovery["jwks_uri"]
        response = await self._http.get(self._jwks_url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        keys: dict[str, dict[str, Any]] = {}
        for jwk in response.json()["keys"]:
            if isinstance(jwk, dict) and jwk.get("kty") in _KEY_TYPES and jwk.get("use", "sig") == "sig":
                keys[str(jwk.get("kid", ""))] = jwk
        return keys


def _dig(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def oidc_role(settings: OidcSettings, claims: dict[str, Any]) -> str | None:
    """The highest SMEFlow role the claims grant (``smeflow-admin`` → ``admin``), if any."""
    roles = _dig(claims, settings.roles_claim)
    if not isinstance(roles, list):
        return None
    prefix = settings.role_prefix
    return highest_role([r[len(prefix) :] for r in roles if isinstance(r, str) and r.startswith(prefix)])


def _email(settings: OidcSettings, claims: dict[str, Any]) -> str | None:
    email = claims.get(settings.email_claim)
    if not isinstance(email, str) or claims.get("email_verified") is False:
        return None
    try:
        return normalize_email(email)
    except ValidationFailed:
        return None


async def _find_user(session: AsyncSession, issuer: str, subject: str) -> User | None:
    user: User | None = (
        await session.execute(
            select(User)
            .join(ExternalIdentity, ExternalIdentity.user_id == User.id)
            .where(ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject)
        )
    ).scalar_one_or_none()
    return user


async def _link_or_create(
    session: AsyncSession, settings: OidcSettings, claims: dict[str, Any], issuer: str, subject: str
) -> tuple[User, bool]:
    email = _email(settings, claims)
    user = None
    if email is not None:
        user = (
            await session.execute(select(User).where(func.lower(User.email) == email))
        ).scalar_one_or_none()
    created = False
    if user is None:
        if not settings.auto_provision:
            raise PermissionDenied("There is no SMEFlow account for this identity")
        if email is None:
            raise PermissionDenied("The identity provider gave no verified email for this identity")
        name = claims.get("name")
        user = await create_user(session, email, None, name if isinstance(name, str) else "")
        created = True
    try:
        async with session.begin_nested():
            session.add(ExternalIdentity(issuer=issuer, subject=subject, user_id=user.id))
            await session.flush()
    except IntegrityError:  # a concurrent first request linked it already
        linked = await _find_user(session, issuer, subject)
        if linked is None:
            raise
        return linked, False
    return user, created


async def map_oidc_principal(
    session: AsyncSession, settings: OidcSettings, claims: dict[str, Any]
) -> Principal:
    """The principal of verified OIDC claims (see the module notes); provisions the user and the
    membership on first sight when ``auto_provision`` (audited). :class:`PermissionDenied` if the
    claims name no active tenant or grant no SMEFlow role.

    Binds ``DbScope.auth()`` to look things up, and leaves the session bound to the tenant.
    """
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not isinstance(subject, str) or not subject:
        raise TokenInvalid()
    slug = claims.get(settings.tenant_claim)
    role = oidc_role(settings, claims)
    if not isinstance(slug, str) or not slug:
        raise PermissionDenied("The token names no SMEFlow tenant")
    if role is None:
        raise PermissionDenied("The token grants no SMEFlow role")
    await bind_scope(session, DbScope.auth())
    tenant = (
        await session.execute(
            select(Tenant).where(Tenant.slug == slug.strip().lower(), Tenant.status == "active")
        )
    ).scalar_one_or_none()
    if tenant is None:
        raise PermissionDenied("The token names no active SMEFlow tenant")
    user = await _find_user(session, issuer, subject)
    created = False
    if user is None:
        user, created = await _link_or_create(session, settings, claims, issuer, subject)
    if user.status != "active":
        raise InvalidCredentials("This account is disabled")
    membership = await session.get(Membership, (tenant.id, user.id))
    await bind_scope(session, DbScope.tenant(tenant.id, user.id))
    if created:
        await record(session, tenant.id, _SYSTEM, "user.created", "user", str(user.id), {"via": "oidc"})
    if membership is None:
        if not settings.auto_provision:
            raise PermissionDenied("This identity is not a member of the tenant")
        try:
            async with session.begin_nested():
                session.add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
                await session.flush()
        except IntegrityError:  # a concurrent first request of the same identity made it
            return _principal(tenant, user, role)
        await record(
            session,
            tenant.id,
            _SYSTEM,
            "membership.created",
            "user",
            str(user.id),
            {"role": role, "via": "oidc"},
        )
    elif membership.role != role:
        previous = membership.role
        membership.role = role
        await session.flush()
        await record(
            session,
            tenant.id,
            _SYSTEM,
            "membership.updated",
            "user",
            str(user.id),
            {"from": previous, "to": role, "via": "oidc"},
        )
    return _principal(tenant, user, role)


def _principal(tenant: Tenant, user: User, role: str) -> Principal:
    return Principal(
        kind="user",
        tenant_id=tenant.id,
        role=role,
        user_id=user.id,
        platform_role=user.platform_role,
        tier=tenant.tier,
    )


__all__ = ["MIN_REFETCH_SECONDS", "OidcVerifier", "map_oidc_principal", "oidc_role"]
