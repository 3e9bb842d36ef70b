"""Approvals: the tenant's approvals inbox (pending first), one approval, and deciding it.

A decision answers 200 with the decided approval; the run it belongs to is queued again when the
request commits and a worker resumes it with the decision. Deciding needs ``approvals:decide``
*and* at least the approval's own ``role`` (else 403); an approval already decided is a 409
problem; another tenant's approval is 404. Reading needs ``approvals:read``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, paginate
from smeflow.db import DbScope
from smeflow.engine.approval_models import Approval
from smeflow.engine.runtime import approval_cursor, decide, get_approval, list_approvals
from smeflow.engine.schemas import ApprovalDecisionIn, ApprovalOut, ApprovalStatus
from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity import Principal

router = APIRouter(prefix="/api/v1", tags=["approvals"])


def _scope(principal: Principal) -> tuple[uuid.UUID, DbScope]:
    tenant_id: uuid.UUID = require_tenant(principal)
    return tenant_id, DbScope.tenant(tenant_id, principal.user_id)


def _cursor(cursor: str | None) -> tuple[int, uuid.UUID] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and value[0] in (0, 1) and isinstance(value[1], str):
        try:
            return int(value[0]), uuid.UUID(value[1])
        except ValueError:
            pass
    raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])


def _key(approval: Approval) -> list[object]:
    rank, approval_id = approval_cursor(approval)
    return [rank, str(approval_id)]


@router.get("/approvals", summary="The tenant's approvals: pending ones first, then newest first")
async def list_all(
    state: State,
    principal: Annotated[Principal, require("approvals:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    status: ApprovalStatus | None = None,
    run_id: uuid.UUID | None = None,
) -> Page[ApprovalOut]:
    tenant_id, scope = _scope(principal)
    after = _cursor(cursor)
    async with state.db.transaction(scope) as session:
        rows = await list_approvals(session, tenant_id, limit + 1, status=status, run_id=run_id, after=after)
        return paginate(rows, limit, _key, ApprovalOut.model_validate)


@router.get("/approvals/{approval_id}", summary="One approval: what is asked, of whom, and the decision")
async def get_one(
    approval_id: uuid.UUID, state: State, principal: Annotated[Principal, require("approvals:read")]
) -> ApprovalOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return ApprovalOut.model_validate(await get_approval(session, tenant_id, approval_id))


@router.post(
    "/approvals/{approval_id}/decision",
    summary="Approve or reject a pending approval (its run then goes on)",
)
async def decision(
    approval_id: uuid.UUID,
    body: ApprovalDecisionIn,
    state: State,
    principal: Annotated[Principal, require("approvals:decide")],
) -> ApprovalOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        approval = await decide(
            session, principal, tenant_id, approval_id, body.outcome, body.comment, queue=state.runs
        )
        return ApprovalOut.model_validate(approval)
