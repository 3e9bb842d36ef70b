"""A tenant's API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Page
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.identity import Principal, create_api_key, get_api_key, list_api_keys, revoke_api_key

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    role: str
    scopes: list[str]
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, store it now")


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Literal["owner", "admin", "staff", "viewer"] = "staff"
    scopes: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=lambda: ["*"],
        max_length=50,
        description='permissions such as "audit:read"; "*" = all',
    )
    expires_at: datetime | None = None


@router.get("", summary="The tenant's API keys (never the keys themselves)")
async def list_keys(
    state: State, principal: Annotated[Principal, require("apikeys:read")]
) -> Page[ApiKeyOut]:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        keys = await list_api_keys(session, tenant_id)
    return Page(items=[ApiKeyOut.model_validate(k) for k in keys])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API key (shown once)")
async def create_key(
    body: ApiKeyIn, state: State, principal: Annotated[Principal, require("apikeys:write")]
) -> ApiKeyCreated:
    tenant_id = require_tenant(principal)
    with body_fields():
        async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
            plaintext, key = await create_api_key(
                session,
                principal,
                tenant_id,
                body.name,
                body.role,
                body.scopes,
                body.expires_at,
                max_keys=state.settings.tier(principal.tier or "free").max_api_keys,
            )
            out = ApiKeyOut.model_validate(key)
    return ApiKeyCreated(**out.model_dump(), key=plaintext)


@router.get("/{key_id}", summary="One API key")
async def get_key(
    key_id: uuid.UUID, state: State, principal: Annotated[Principal, require("apikeys:read")]
) -> ApiKeyOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        return ApiKeyOut.model_validate(await get_api_key(session, tenant_id, key_id))


@router.delete("/{key_id}", summary="Revoke an API key, at once, in every API process")
async def revoke_key(
    key_id: uuid.UUID, state: State, principal: Annotated[Principal, require("apikeys:write")]
) -> ApiKeyOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        key = await revoke_api_key(session, principal, tenant_id, key_id)
        return ApiKeyOut.model_validate(key)
