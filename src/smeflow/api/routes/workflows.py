"""Workflows: drafts the builder edits, immutable published versions, and the node kinds.

A draft may be invalid: creating or changing one answers with the workflow and its
``problems`` (``[{path, code, message}]``, ``path`` inside the definition). Publishing an
invalid draft is a 422 problem whose ``errors[].field`` is ``definition.<path>`` (the place in
the workflow's draft, the ``definition`` field of the workflow) for every problem; nothing is
written. Reading needs ``workflows:read``; changing drafts ``workflows:write``; publishing,
archiving and making the webhook secret ``workflows:publish``. Publishing registers the
version's schedule triggers (their first fire jobs are queued when the request commits).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from smeflow.agents.service import list_agents
from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, paginate
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.engine.definitions import node_kind_schemas
from smeflow.engine.runtime import agent_problems, money_problems, rotate_webhook_secret
from smeflow.engine.schemas import (
    DiffOut,
    NodeKindsOut,
    PublishIn,
    VersionOut,
    VersionSummaryOut,
    WebhookSecretOut,
    WorkflowCreate,
    WorkflowOut,
    WorkflowStatus,
    WorkflowSummaryOut,
    WorkflowUpdate,
)
from smeflow.engine.workflows import (
    archive,
    create_workflow,
    diff_versions,
    draft_problems,
    get_version,
    get_workflow,
    list_versions,
    list_workflows,
    publish,
    update_draft,
)
from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity import Principal

router = APIRouter(prefix="/api/v1", tags=["workflows"])

MAX_VERSION = 2**31 - 1
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="a published version (1, 2, …)")]


def _scope(principal: Principal) -> tuple[uuid.UUID, DbScope]:
    tenant_id: uuid.UUID = require_tenant(principal)
    return tenant_id, DbScope.tenant(tenant_id, principal.user_id)


def _cursor_name(cursor: str | None) -> str | None:
    value = decode_cursor(cursor)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])
    return value


def _cursor_version(cursor: str | None) -> int | None:
    value = decode_cursor(cursor)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])
    return value


@router.get("/node-kinds", summary="The node kinds and the JSON Schemas the builder's forms come from")
async def node_kinds(principal: Annotated[Principal, require("workflows:read")]) -> NodeKindsOut:
    return NodeKindsOut(kinds=node_kind_schemas())


@router.get("/workflows", summary="The tenant's workflows, by name (without their drafts)")
async def list_all(
    state: State,
    principal: Annotated[Principal, require("workflows:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    status: WorkflowStatus | None = None,
) -> Page[WorkflowSummaryOut]:
    tenant_id, scope = _scope(principal)
    after = _cursor_name(cursor)
    async with state.db.transaction(scope) as session:
        rows = await list_workflows(session, tenant_id, limit=limit + 1, after_name=after, status=status)
        return paginate(rows, limit, lambda w: w.name, WorkflowSummaryOut.model_validate)


@router.post(
    "/workflows", status_code=status.HTTP_201_CREATED, summary="Create a workflow (its draft may be invalid)"
)
async def create(
    body: WorkflowCreate, state: State, principal: Annotated[Principal, require("workflows:write")]
) -> WorkflowOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            workflow, problems = await create_workflow(
                session, principal, tenant_id, body.name, body.definition, body.description
            )
            return WorkflowOut.of(workflow, problems)


@router.get("/workflows/{workflow_id}", summary="One workflow with its draft and the draft's problems")
async def get_one(
    workflow_id: uuid.UUID, state: State, principal: Annotated[Principal, require("workflows:read")]
) -> WorkflowOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        workflow = await get_workflow(session, tenant_id, workflow_id)
    return WorkflowOut.of(workflow, draft_problems(workflow))


@router.patch("/workflows/{workflow_id}", summary="Change a workflow's name, description or draft")
async def patch_one(
    workflow_id: uuid.UUID,
    body: WorkflowUpdate,
    state: State,
    principal: Annotated[Principal, require("workflows:write")],
) -> WorkflowOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            workflow, problems = await update_draft(
                session,
                principal,
                tenant_id,
                workflow_id,
                name=body.name,
                description=body.description,
                definition=body.definition,
            )
            return WorkflowOut.of(workflow, problems)


@router.post(
    "/workflows/{workflow_id}/publish",
    status_code=status.HTTP_201_CREATED,
    summary="Publish the draft as the next version",
    description=(
        "Validates the draft; if it has problems, answers 422 with one entry in `errors` per "
        "problem, `field` = `definition.<path inside the definition>`, and publishes nothing."
    ),
)
async def publish_one(
    workflow_id: uuid.UUID,
    state: State,
    principal: Annotated[Principal, require("workflows:publish")],
    body: PublishIn | None = None,
) -> VersionOut:
    tenant_id, scope = _scope(principal)
    note = body.note if body is not None else ""
    async with state.db.transaction(scope) as session:
        actions = state.runs.runtime.actions
        agents = state.runs.runtime.agents
        named = {agent.name for agent in await list_agents(session, tenant_id)}
        version = await publish(
            session,
            principal,
            tenant_id,
            workflow_id,
            note,
            scheduler=state.runs,
            check=lambda definition: [
                *money_problems(definition, actions),
                *agent_problems(definition, agents, named),
            ],
        )
        return VersionOut.of(version)


@router.post("/workflows/{workflow_id}/archive", summary="Archive a workflow (no more edits or publishes)")
async def archive_one(
    workflow_id: uuid.UUID, state: State, principal: Annotated[Principal, require("workflows:publish")]
) -> WorkflowOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        workflow = await archive(session, principal, tenant_id, workflow_id)
    return WorkflowOut.of(workflow, draft_problems(workflow))


@router.post(
    "/workflows/{workflow_id}/webhook-secret",
    summary="Make (or replace) the workflow's webhook secret: shown this once, never again",
    description=(
        "Callers of the workflow's webhook sign each request with this secret. A replaced secret "
        "stops working at once. The answer is the only place the secret is ever shown."
    ),
)
async def webhook_secret(
    workflow_id: uuid.UUID,
    request: Request,
    response: Response,
    state: State,
    principal: Annotated[Principal, require("workflows:publish")],
) -> WebhookSecretOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        secret, row = await rotate_webhook_secret(session, state.settings, principal, tenant_id, workflow_id)
    slug = request.state.caller.tenant.slug
    base = (state.settings.public_url or str(request.base_url)).rstrip("/")
    response.headers["Cache-Control"] = "no-store"
    return WebhookSecretOut(
        workflow_id=workflow_id,
        secret=secret,
        url=f"{base}/api/v1/hooks/{slug}/{workflow_id}",
        created_at=row.created_at,
    )


@router.get("/workflows/{workflow_id}/versions", summary="The published versions, newest first")
async def versions(
    workflow_id: uuid.UUID,
    state: State,
    principal: Annotated[Principal, require("workflows:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[VersionSummaryOut]:
    tenant_id, scope = _scope(principal)
    before = _cursor_version(cursor)
    async with state.db.transaction(scope) as session:
        rows = await list_versions(session, tenant_id, workflow_id, limit=limit + 1, before_version=before)
        return paginate(rows, limit, lambda v: v.version, VersionSummaryOut.model_validate)


@router.get("/workflows/{workflow_id}/versions/{version}", summary="One published version")
async def version_one(
    workflow_id: uuid.UUID,
    version: VersionNumber,
    state: State,
    principal: Annotated[Principal, require("workflows:read")],
) -> VersionOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return VersionOut.of(await get_version(session, tenant_id, workflow_id, version))


@router.get("/workflows/{workflow_id}/diff", summary="What changed between two published versions")
async def diff(
    workflow_id: uuid.UUID,
    state: State,
    principal: Annotated[Principal, require("workflows:read")],
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_VERSION)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_VERSION)],
) -> DiffOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        changes = await diff_versions(session, tenant_id, workflow_id, from_version, to_version)
    return DiffOut(workflow_id=workflow_id, from_version=from_version, to_version=to_version, changes=changes)
