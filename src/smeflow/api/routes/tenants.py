"""Tenants: the operator's list and management, and a tenant's own profile."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, paginate
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity import Principal, add_member
from smeflow.tenancy import (
    TenantAdminUpdate,
    TenantCreate,
    TenantOut,
    TenantUpdate,
    create_tenant,
    get_tenant,
    list_tenants,
    update_tenant,
)
from smeflow.tenancy.schemas import TenantStatus

router = APIRouter(prefix="/api/v1", tags=["tenants"])


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str | None = Field(default=None, min_length=10, max_length=200)
    full_name: str = Field(default="", max_length=200)


class TenantCreateIn(TenantCreate):
    owner: OwnerIn | None = Field(default=None, description="the tenant's first owner (created if new)")


def _cursor_slug(cursor: str | None) -> str | None:
    value = decode_cursor(cursor)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])
    return value


@router.get("/tenants", summary="List tenants (platform operator)")
async def list_all(
    state: State,
    principal: Annotated[Principal, require("tenants:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    status: TenantStatus | None = None,
) -> Page[TenantOut]:
    async with state.db.transaction(DbScope.platform(principal.user_id)) as session:
        rows = await list_tenants(session, limit=limit + 1, after_slug=_cursor_slug(cursor), status=status)
        return paginate(rows, limit, lambda t: t.slug, TenantOut.model_validate)


@router.post("/tenants", status_code=status.HTTP_201_CREATED, summary="Create a tenant (platform operator)")
async def create(
    body: TenantCreateIn, state: State, principal: Annotated[Principal, require("tenants:write")]
) -> TenantOut:
    data = TenantCreate.model_validate(body.model_dump(exclude={"owner"}))
    async with state.db.transaction(DbScope.platform(principal.user_id)) as session:
        tenant = await create_tenant(session, state.settings, principal.actor, data)
        if body.owner is not None:
            with body_fields("body.owner"):
                await add_member(
                    session,
                    principal.actor,
                    tenant.id,
                    body.owner.email,
                    "owner",
                    password=body.owner.password,
                    full_name=body.owner.full_name,
                )
        return TenantOut.model_validate(tenant)


@router.get("/tenants/{tenant_id}", summary="One tenant (platform operator)")
async def get_one(
    tenant_id: uuid.UUID, state: State, principal: Annotated[Principal, require("tenants:read")]
) -> TenantOut:
    async with state.db.transaction(DbScope.platform(principal.user_id)) as session:
        return TenantOut.model_validate(await get_tenant(session, tenant_id))


@router.patch("/tenants/{tenant_id}", summary="Change a tenant's plan, status or profile (platform operator)")
async def update_one(
    tenant_id: uuid.UUID,
    body: TenantAdminUpdate,
    state: State,
    principal: Annotated[Principal, require("tenants:write")],
) -> TenantOut:
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        tenant = await update_tenant(session, state.settings, principal.actor, tenant_id, body)
        return TenantOut.model_validate(tenant)


@router.get("/tenant", summary="The caller's tenant")
async def get_own(state: State, principal: Annotated[Principal, require("tenant:read")]) -> TenantOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        return TenantOut.model_validate(await get_tenant(session, tenant_id))


@router.patch("/tenant", summary="Change the caller's tenant profile")
async def update_own(
    body: TenantUpdate, state: State, principal: Annotated[Principal, require("tenant:write")]
) -> TenantOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        tenant = await update_tenant(session, state.settings, principal.actor, tenant_id, body)
        return TenantOut.model_validate(tenant)
