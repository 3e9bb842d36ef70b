"""Integrations: a tenant's connected provider accounts (M-Pesa paybill, Paystack business…).

Reading needs ``integrations:read`` (every member); connecting, changing, checking and deleting
``integrations:write`` (admins and owners). No answer ever holds a credential, not even masked:
``credentials_set`` names the fields that have a value. Every answer holds the integration's
``webhook_url`` (on ``SMEFLOW_PUBLIC_URL``, or this request's address when it is unset), to paste
into the provider's portal. A bad ``config`` or ``credentials`` is a 422 naming every problem
(``body.config.<field>``, ``body.credentials.<field>``) and writes nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, paginate
from smeflow.api._state import AppState
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.errors import ConfigurationError, FieldProblem, ValidationFailed
from smeflow.identity import Principal
from smeflow.integrations import (
    Vault,
    check_integration,
    create_integration,
    delete_integration,
    describe,
    get_integration,
    list_integrations,
    update_integration,
)
from smeflow.integrations.models import Integration
from smeflow.integrations.schemas import CheckOut, IntegrationCreate, IntegrationOut, IntegrationUpdate

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])

_DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else None


def _scope(principal: Principal) -> tuple[uuid.UUID, DbScope]:
    tenant_id: uuid.UUID = require_tenant(principal)
    return tenant_id, DbScope.tenant(tenant_id, principal.user_id)


def _cursor_name(cursor: str | None) -> str | None:
    value = decode_cursor(cursor)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])
    return value


class _Shown:
    """How this request shows integrations: the vault and the public address of webhooks."""

    def __init__(self, state: AppState, request: Request) -> None:
        self.vault = Vault.from_settings(state.settings)
        self.public_url = state.settings.public_url or str(request.base_url)
        self.registry = state.connectors

    def __call__(self, row: Integration) -> IntegrationOut:
        return describe(row, self.vault, public_url=self.public_url, registry=self.registry)


@router.get("", summary="The tenant's integrations, by name", description=_DESCRIPTION)
async def list_all(
    request: Request,
    state: State,
    principal: Annotated[Principal, require("integrations:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    connector: Annotated[str | None, Query(max_length=40, description="only this connector's")] = None,
) -> Page[IntegrationOut]:
    tenant_id, scope = _scope(principal)
    after = _cursor_name(cursor)
    async with state.db.transaction(scope) as session:
        rows = await list_integrations(
            session, tenant_id, limit=limit + 1, after_name=after, connector=connector
        )
    return paginate(rows, limit, lambda row: row.name, _Shown(state, request))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Connect a provider account (credentials sealed, never shown again)",
    description=_DESCRIPTION,
)
async def create(
    body: IntegrationCreate,
    request: Request,
    state: State,
    principal: Annotated[Principal, require("integrations:write")],
) -> IntegrationOut:
    tenant_id, scope = _scope(principal)
    shown = _Shown(state, request)
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await create_integration(session, principal, tenant_id, state.connectors, shown.vault, body)
    return shown(row)


@router.get("/{integration_id}", summary="One integration (never its credentials)")
async def get_one(
    integration_id: uuid.UUID,
    request: Request,
    state: State,
    principal: Annotated[Principal, require("integrations:read")],
) -> IntegrationOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        row = await get_integration(session, tenant_id, integration_id)
    return _Shown(state, request)(row)


@router.patch(
    "/{integration_id}",
    summary="Rename, disable or enable an integration, or replace its config or credentials",
    description=_DESCRIPTION,
)
async def patch_one(
    integration_id: uuid.UUID,
    body: IntegrationUpdate,
    request: Request,
    state: State,
    principal: Annotated[Principal, require("integrations:write")],
) -> IntegrationOut:
    tenant_id, scope = _scope(principal)
    shown = _Shown(state, request)
    with body_fields():
        async with state.db.transaction(scope) as session:
            row = await update_integration(
                session, principal, tenant_id, state.connectors, shown.vault, integration_id, body
            )
    return shown(row)


@router.delete(
    "/{integration_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an integration (with its webhook deliveries, inbox and outbox)",
)
async def delete_one(
    integration_id: uuid.UUID, state: State, principal: Annotated[Principal, require("integrations:write")]
) -> None:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        await delete_integration(session, principal, tenant_id, integration_id)


@router.post(
    "/{integration_id}/check",
    summary="Ask the provider whether the integration's credentials work",
    description=(
        "Runs the connector's check (a cheap authenticated call to the provider) and records its "
        "outcome on the integration. A refusal is an answer (`ok: false` and the provider's reason), "
        "not an error."
    ),
)
async def check_one(
    integration_id: uuid.UUID, state: State, principal: Annotated[Principal, require("integrations:write")]
) -> CheckOut:
    tenant_id, _ = _scope(principal)
    if state.connector_http is None:
        raise ConfigurationError("the API was started without an HTTP client for connectors")
    result = await check_integration(
        state.db,
        principal,
        tenant_id,
        integration_id,
        state.connectors,
        Vault.from_settings(state.settings),
        state.connector_http,
        user_id=principal.user_id,
    )
    return CheckOut(
        ok=result.ok, error=result.error, error_code=result.error_code, checked_at=result.checked_at
    )
