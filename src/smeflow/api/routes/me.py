"""The caller: who they are, and their own MFA."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from smeflow.api._deps import Caller, State, own_scope, require
from smeflow.api.routes._fields import body_fields
from smeflow.api.schemas import TenantBrief, UserBrief
from smeflow.errors import PermissionDenied
from smeflow.identity import Principal, begin_mfa_enrolment, confirm_mfa, disable_mfa

router = APIRouter(prefix="/api/v1/me", tags=["me"])


class MeOut(BaseModel):
    kind: str
    role: str | None
    platform_role: str | None
    scopes: list[str] | None
    api_key_id: uuid.UUID | None
    user: UserBrief | None
    tenant: TenantBrief | None


class MfaEnrolmentOut(BaseModel):
    secret: str = Field(description="base32 secret, for apps that cannot scan the URI")
    otpauth_uri: str = Field(description="show as a QR code to the authenticator app")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern=r"^\d{6}$", description="the 6-digit code of the authenticator app")]


@router.get("", summary="Who is calling")
async def me(request: Request, principal: Annotated[Principal, require("me:read")]) -> MeOut:
    caller: Caller = request.state.caller
    return MeOut(
        kind=principal.kind,
        role=principal.role,
        platform_role=principal.platform_role,
        scopes=sorted(principal.scopes) if principal.scopes is not None else None,
        api_key_id=principal.api_key_id,
        user=caller.user,
        tenant=caller.tenant,
    )


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None or principal.kind != "user":
        raise PermissionDenied("only a signed-in user has MFA; API keys do not")
    return principal.user_id


@router.post("/mfa", summary="Start MFA enrolment: a new TOTP secret, not active until confirmed")
async def mfa_begin(state: State, principal: Annotated[Principal, require("me:write")]) -> MfaEnrolmentOut:
    user_id = _user_id(principal)
    async with state.db.transaction(own_scope(principal)) as session:
        secret, uri = await begin_mfa_enrolment(session, state.settings, user_id)
    return MfaEnrolmentOut(secret=secret, otpauth_uri=uri)


@router.post("/mfa/confirm", status_code=status.HTTP_204_NO_CONTENT, summary="Turn MFA on with a first code")
async def mfa_confirm(
    body: CodeIn, state: State, principal: Annotated[Principal, require("me:write")]
) -> None:
    user_id = _user_id(principal)
    with body_fields():
        async with state.db.transaction(own_scope(principal)) as session:
            await confirm_mfa(session, state.settings, user_id, body.code, tenant_id=principal.tenant_id)


@router.post("/mfa/disable", status_code=status.HTTP_204_NO_CONTENT, summary="Turn MFA off (needs a code)")
async def mfa_disable(
    body: CodeIn, state: State, principal: Annotated[Principal, require("me:write")]
) -> None:
    user_id = _user_id(principal)
    with body_fields():
        async with state.db.transaction(own_scope(principal)) as session:
            await disable_mfa(session, state.settings, user_id, body.code, tenant_id=principal.tenant_id)
