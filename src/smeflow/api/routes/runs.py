"""Runs: start a published workflow by hand, list the tenant's runs, read one and its timeline;
cancel, pause, resume a run, and retry a failed one from its failed step.

Starting a run answers 202: the run is stored ``queued`` (and audited) when the request commits,
and a worker executes it afterwards; poll ``GET /runs/{run_id}`` for its status and output. A
workflow never published is a 409 problem; a bad body is a 422 naming ``body.<field>`` and
writes nothing. Reading needs ``runs:read``; starting ``runs:write``; cancel, pause, resume and
retry ``runs:control`` (admin or above). Each answers 200 with the run: cancelled or paused at
once, or, for a running run, with ``stop_request`` set (it stops at its next step); a transition
the run's status does not allow (cancelling a finished run, retrying one that has not failed…)
is a 409 problem that changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, paginate
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.engine.runtime import (
    cancel_run,
    get_run,
    list_events,
    list_runs,
    pause_run,
    resume_run,
    retry_run,
    start_run,
)
from smeflow.engine.schemas import RunCreate, RunEventOut, RunEventsOut, RunOut, RunStatus, RunSummaryOut
from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity import Principal

router = APIRouter(prefix="/api/v1", tags=["runs"])


def _scope(principal: Principal) -> tuple[uuid.UUID, DbScope]:
    tenant_id: uuid.UUID = require_tenant(principal)
    return tenant_id, DbScope.tenant(tenant_id, principal.user_id)


def _cursor_run(cursor: str | None) -> uuid.UUID | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])


@router.post(
    "/workflows/{workflow_id}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a run of a published workflow (executed by a worker after the answer)",
)
async def start(
    workflow_id: uuid.UUID,
    body: RunCreate,
    state: State,
    principal: Annotated[Principal, require("runs:write")],
) -> RunOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            run = await start_run(
                session,
                principal,
                tenant_id,
                workflow_id,
                body.input,
                body.version,
                order_key=body.order_key,
                queue=state.runs,
            )
            return RunOut.model_validate(run)


@router.get("/runs", summary="The tenant's runs, newest first (without their input and output)")
async def list_all(
    state: State,
    principal: Annotated[Principal, require("runs:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    workflow_id: uuid.UUID | None = None,
    status: RunStatus | None = None,
) -> Page[RunSummaryOut]:
    tenant_id, scope = _scope(principal)
    before = _cursor_run(cursor)
    async with state.db.transaction(scope) as session:
        rows = await list_runs(session, tenant_id, workflow_id, limit + 1, status=status, before_id=before)
        return paginate(rows, limit, lambda r: str(r.id), RunSummaryOut.model_validate)


@router.get("/runs/{run_id}", summary="One run: its status, input, output or why it failed")
async def get_one(
    run_id: uuid.UUID, state: State, principal: Annotated[Principal, require("runs:read")]
) -> RunOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return RunOut.model_validate(await get_run(session, tenant_id, run_id))


@router.get("/runs/{run_id}/events", summary="A run's timeline: its steps in the order they ran")
async def events(
    run_id: uuid.UUID, state: State, principal: Annotated[Principal, require("runs:read")]
) -> RunEventsOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        rows = await list_events(session, tenant_id, run_id)
        return RunEventsOut(run_id=run_id, items=[RunEventOut.model_validate(e) for e in rows])


@router.post("/runs/{run_id}/cancel", summary="Cancel a run (a running one stops at its next step)")
async def cancel(
    run_id: uuid.UUID, state: State, principal: Annotated[Principal, require("runs:control")]
) -> RunOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return RunOut.model_validate(
            await cancel_run(session, principal, tenant_id, run_id, queue=state.runs)
        )


@router.post("/runs/{run_id}/pause", summary="Pause a run (a running one pauses at its next step)")
async def pause(
    run_id: uuid.UUID, state: State, principal: Annotated[Principal, require("runs:control")]
) -> RunOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return RunOut.model_validate(await pause_run(session, principal, tenant_id, run_id, queue=state.runs))


@router.post("/runs/{run_id}/resume", summary="Resume a paused run from where it stopped")
async def resume(
    run_id: uuid.UUID, state: State, principal: Annotated[Principal, require("runs:control")]
) -> RunOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return RunOut.model_validate(
            await resume_run(session, principal, tenant_id, run_id, queue=state.runs)
        )


@router.post("/runs/{run_id}/retry", summary="Retry a failed run from the step that failed")
async def retry(
    run_id: uuid.UUID, state: State, principal: Annotated[Principal, require("runs:control")]
) -> RunOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return RunOut.model_validate(await retry_run(session, principal, tenant_id, run_id, queue=state.runs))
