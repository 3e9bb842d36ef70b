"""Request dependencies: who is calling (authentication), may they (authorization), and rate
limits. Every route under ``/api/v1`` except login and refresh declares the permission it needs
with :func:`require`, so an endpoint cannot forget to check."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.api._state import AppState
from smeflow.api.schemas import TenantBrief, UserBrief
from smeflow.core.context import tenant_id_var
from smeflow.db import DbScope
from smeflow.errors import NotAuthenticated, PermissionDenied, RateLimited
from smeflow.identity import (
    Principal,
    User,
    authenticate_api_key,
    decode_access_token,
    map_oidc_principal,
    session_cache_key,
    session_principal,
)
from smeflow.tenancy import Tenant

_bearer = HTTPBearer(auto_error=False, description="an access token from /api/v1/auth/login, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key (smf_…)")


async def app_state(request: Request) -> AppState:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool (a costly hop)
    state: AppState = request.app.state.smeflow
    return state


State = Annotated[AppState, Depends(app_state)]


def _peek_issuer(token: str) -> str | None:
    """The ``iss`` claim, unverified: only to choose which verifier checks the token."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller as the API caches it: the principal plus what ``/me`` shows of it."""

    principal: Principal
    tenant: TenantBrief | None
    user: UserBrief | None


async def _describe(session: AsyncSession, principal: Principal) -> Caller:
    tenant = user = None
    if principal.tenant_id is not None:
        row = await session.get(Tenant, principal.tenant_id)
        tenant = TenantBrief.model_validate(row, from_attributes=True) if row is not None else None
    if principal.user_id is not None:
        found = await session.get(User, principal.user_id)
        user = UserBrief.model_validate(found, from_attributes=True) if found is not None else None
    return Caller(principal, tenant, user)


async def _from_api_key(state: AppState, key: str) -> Caller:
    cache_key = "k:" + hashlib.sha256(key.encode()).hexdigest()
    caller = state.auth_cache.get(cache_key)
    if caller is None:
        async with state.db.transaction(DbScope.auth()) as session:
            caller = await _describe(session, await authenticate_api_key(session, key))
        state.auth_cache.put(cache_key, caller)
    return caller


async def _from_bearer(state: AppState, token: str) -> Caller:
    issuer = _peek_issuer(token)
    if state.oidc is not None and issuer == state.oidc.settings.issuer:
        cache_key = "o:" + hashlib.sha256(token.encode()).hexdigest()
        caller = state.auth_cache.get(cache_key)
        if caller is None:
            external = await state.oidc.verify(token)
            async with state.db.transaction(DbScope.auth()) as session:
                principal = await map_oidc_principal(session, state.oidc.settings, external)
                caller = await _describe(session, principal)
            expires_in = float(external.get("exp", 0)) - time.time()
            state.auth_cache.put(cache_key, caller, ttl=expires_in)
        return caller
    claims = decode_access_token(state.settings, token)  # signature and expiry: every request
    cache_key = session_cache_key(claims.sid, claims.tid)
    caller = state.auth_cache.get(cache_key)
    if caller is None:
        async with state.db.transaction(DbScope.auth(claims.sub)) as session:
            caller = await _describe(session, await session_principal(session, claims))
        state.auth_cache.put(cache_key, caller)
    return caller


async def authenticate(
    request: Request,
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from ``Authorization: Bearer`` (access token, OIDC token or API key) or
    ``X-API-Key``; then the per-key and per-tenant rate limits."""
    if api_key:
        caller = await _from_api_key(state, api_key)
    elif bearer is not None and bearer.credentials:
        token = bearer.credentials
        caller = await (
            _from_api_key(state, token) if token.startswith("smf_") else _from_bearer(state, token)
        )
    else:
        raise NotAuthenticated("send an access token (Authorization: Bearer …) or an API key (X-API-Key)")
    principal = caller.principal
    if principal.tenant_id is not None:
        tenant_id_var.set(str(principal.tenant_id))
    await _rate_limit(state, principal)
    request.state.caller = caller
    return principal


async def _rate_limit(state: AppState, principal: Principal) -> None:
    settings = state.settings
    if principal.api_key_id is not None:
        wait = await state.limiter.hit(
            f"key:{principal.api_key_id}", settings.api_key_requests_per_second, settings.api_key_burst
        )
        if wait is not None:
            raise RateLimited(wait, "this API key is over its request rate")
    if principal.tenant_id is not None:
        await limit_tenant(state, principal.tenant_id, principal.tier or "free")


async def limit_tenant(state: AppState, tenant_id: uuid.UUID, tier: str) -> None:
    """Take one request from the tenant's bucket (its plan's rate); :class:`RateLimited` if empty."""
    quota = state.settings.tier(tier)
    wait = await state.limiter.hit(f"tenant:{tenant_id}", quota.requests_per_second, quota.burst)
    if wait is not None:
        raise RateLimited(wait, "this tenant is over the request rate of its plan")


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Any:
    """A dependency that authenticates the caller and checks ``permission`` ("object:action")."""
    obj, _, act = permission.partition(":")
    if not obj or not act:
        raise ValueError(f"permission {permission!r} must look like 'object:action'")

    async def check(principal: CurrentPrincipal, state: State) -> Principal:
        if not state.authorizer.allowed(principal, obj, act):
            raise PermissionDenied(f"this needs the {permission} permission")
        return principal

    check.__smeflow_permission__ = permission  # type: ignore[attr-defined]
    return Depends(check)


def permission_of(call: Callable[..., Awaitable[Any]]) -> str | None:
    """The permission a dependency created by :func:`require` checks (for tests and docs)."""
    return getattr(call, "__smeflow_permission__", None)


def own_scope(principal: Principal) -> DbScope:
    """The narrowest scope for the caller: its tenant's rows (if any) and its own user row."""
    return DbScope("tenant", principal.tenant_id, principal.user_id)


def require_tenant(principal: Principal) -> Any:
    """The caller's tenant id, or 403 for a caller acting outside any tenant (an operator)."""
    if principal.tenant_id is None:
        raise PermissionDenied("this acts on a tenant; log in to one of your tenants")
    return principal.tenant_id


__all__ = [
    "Caller",
    "CurrentPrincipal",
    "State",
    "app_state",
    "authenticate",
    "limit_tenant",
    "own_scope",
    "permission_of",
    "require",
    "require_tenant",
]
