"""Login, the MFA second step, refresh and logout."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from smeflow.api._deps import State, require
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.errors import RateLimited
from smeflow.identity import (
    Principal,
    RefreshTokenReused,
    Tokens,
    complete_mfa_login,
    decode_mfa_token,
    login,
    logout,
    refresh,
)
from smeflow.tenancy.schemas import Slug

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

# Brute-force brake per email address (and per account for one-time codes): 10 attempts, then
# one every 6 s.
LOGIN_RATE, LOGIN_BURST = 1 / 6, 10
# Guessing brake per MFA challenge: 5 codes, then one every 30 s (a challenge lives 5 minutes).
MFA_RATE, MFA_BURST = 1 / 30, 5


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]
    tenant: Slug | None = Field(default=None, description="tenant slug; needed if you belong to several")


class MfaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mfa_token: Annotated[str, Field(min_length=1, max_length=4000)]
    code: Annotated[str, Field(pattern=r"^\d{6}$", description="the 6-digit code of the authenticator app")]


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(min_length=1, max_length=500)]


class LogoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str | None, Field(max_length=500)] = None


class TokensOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str | None
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None
    role: str | None

    @classmethod
    def of(cls, tokens: Tokens) -> TokensOut:
        return cls(
            access_token=tokens.access_token,
            token_type=tokens.token_type,
            expires_in=tokens.expires_in,
            refresh_token=tokens.refresh_token,
            user_id=tokens.user_id,
            tenant_id=tokens.tenant_id,
            role=tokens.role,
        )


class LoginOut(BaseModel):
    mfa_required: bool = False
    mfa_token: str | None = Field(default=None, description="send to /auth/mfa with a one-time code")
    tokens: TokensOut | None = None


@router.post("/login", summary="Log in with email and password")
async def do_login(body: LoginIn, state: State) -> LoginOut:
    wait = await state.limiter.hit(f"login:{body.email.strip().lower()}", LOGIN_RATE, LOGIN_BURST)
    if wait is not None:
        raise RateLimited(wait, "too many login attempts for this email; wait and try again")
    with body_fields():
        async with state.db.transaction(DbScope.auth()) as session:
            result = await login(session, state.settings, body.email, body.password, body.tenant)
    if result.tokens is None:
        return LoginOut(mfa_required=True, mfa_token=result.mfa_token)
    return LoginOut(tokens=TokensOut.of(result.tokens))


@router.post("/mfa", summary="Second login step: the MFA challenge and a one-time code")
async def do_mfa(body: MfaIn, state: State) -> TokensOut:
    challenge = hashlib.sha256(body.mfa_token.encode()).hexdigest()
    wait = await state.limiter.hit(f"mfa:{challenge}", MFA_RATE, MFA_BURST)
    if wait is not None:
        raise RateLimited(wait, "too many codes tried for this login; wait, or log in again")
    # The same brake as for passwords, per user (a fresh challenge does not reset it): a million
    # codes, three of them valid at any moment, are otherwise guessed in minutes.
    claims = decode_mfa_token(state.settings, body.mfa_token)
    wait = await state.limiter.hit(f"mfa:{claims.sub}", LOGIN_RATE, LOGIN_BURST)
    if wait is not None:
        raise RateLimited(wait, "too many one-time codes tried for this account; wait and try again")
    async with state.db.transaction(DbScope.auth()) as session:
        tokens = await complete_mfa_login(session, state.settings, body.mfa_token, body.code)
    return TokensOut.of(tokens)


@router.post("/refresh", summary="Swap a refresh token for new tokens (the old one stops working)")
async def do_refresh(body: RefreshIn, state: State) -> TokensOut:
    reused: RefreshTokenReused | None = None
    async with state.db.transaction(DbScope.auth()) as session:
        try:
            tokens = await refresh(session, state.settings, body.refresh_token)
        except RefreshTokenReused as exc:
            reused = exc  # the family's revocation must commit before we answer
    if reused is not None:
        raise reused
    return TokensOut.of(tokens)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this login everywhere")
async def do_logout(
    principal: Annotated[Principal, require("me:write")], state: State, body: LogoutIn | None = None
) -> None:
    async with state.db.transaction(DbScope.auth()) as session:
        if body is not None and body.refresh_token:
            await logout(session, refresh_token=body.refresh_token)
        elif principal.session_id is not None:
            await logout(session, session_id=principal.session_id)
