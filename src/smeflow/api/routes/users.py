"""A tenant's users: members and their roles."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, paginate
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity import Principal, add_member, change_role, get_member, list_members, remove_member

router = APIRouter(prefix="/api/v1/users", tags=["users"])

Role = Literal["owner", "admin", "staff", "viewer"]


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: uuid.UUID
    email: str
    full_name: str
    role: Role
    status: str
    mfa_enabled: bool
    joined_at: datetime


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    role: Role
    full_name: str = Field(default="", max_length=200)
    password: str | None = Field(
        default=None, min_length=10, max_length=1000, description="for a new user; omit for OIDC-only users"
    )


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


def _cursor_user(cursor: str | None) -> uuid.UUID | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")]) from exc


@router.get("", summary="Members of the tenant")
async def list_users(
    state: State,
    principal: Annotated[Principal, require("users:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MemberOut]:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        rows = await list_members(session, tenant_id, limit=limit + 1, after_user_id=_cursor_user(cursor))
    return paginate(rows, limit, lambda m: str(m.user_id), MemberOut.model_validate)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a member (creating the user if new)")
async def add_user(
    body: MemberIn, state: State, principal: Annotated[Principal, require("users:write")]
) -> MemberOut:
    tenant_id = require_tenant(principal)
    with body_fields():
        async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
            member = await add_member(
                session,
                principal,
                tenant_id,
                body.email,
                body.role,
                password=body.password,
                full_name=body.full_name,
                max_members=state.settings.tier(principal.tier or "free").max_users,
            )
    return MemberOut.model_validate(member)


@router.get("/{user_id}", summary="One member")
async def get_user(
    user_id: uuid.UUID, state: State, principal: Annotated[Principal, require("users:read")]
) -> MemberOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        return MemberOut.model_validate(await get_member(session, tenant_id, user_id))


@router.patch("/{user_id}", summary="Change a member's role")
async def patch_user(
    user_id: uuid.UUID, body: RoleIn, state: State, principal: Annotated[Principal, require("users:write")]
) -> MemberOut:
    tenant_id = require_tenant(principal)
    with body_fields():
        async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
            member = await change_role(session, principal, tenant_id, user_id, body.role)
    return MemberOut.model_validate(member)


@router.delete(
    "/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a member from the tenant"
)
async def delete_user(
    user_id: uuid.UUID, state: State, principal: Annotated[Principal, require("users:write")]
) -> None:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        await remove_member(session, principal, tenant_id, user_id)
