"""The tenant's audit log: list events and verify the hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, paginate
from smeflow.audit import list_events, verify_chain
from smeflow.audit.schemas import AuditEventOut, ChainReportOut
from smeflow.db import DbScope
from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity import Principal

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/events", summary="Audit events, newest first")
async def events(
    state: State,
    principal: Annotated[Principal, require("audit:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=100)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[AuditEventOut]:
    tenant_id = require_tenant(principal)
    before = decode_cursor(cursor)
    if before is not None and (not isinstance(before, int) or isinstance(before, bool)):
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        rows = await list_events(
            session,
            tenant_id,
            limit=limit + 1,
            before_seq=before,
            action=action,
            target_type=target_type,
            target_id=target_id,
        )
        return paginate(rows, limit, lambda e: e.seq, AuditEventOut.model_validate)


@router.get("/verify", summary="Recompute the hash chain; report the first broken link")
async def verify(state: State, principal: Annotated[Principal, require("audit:read")]) -> ChainReportOut:
    tenant_id = require_tenant(principal)
    async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
        report = await verify_chain(session, tenant_id)
    return ChainReportOut.model_validate(report, from_attributes=True)
