"""Versioned workflows: drafts that are edited, versions that are published and never change.

Key contracts:
- A workflow's draft may be invalid (the builder saves work in progress); its problems are
  reported (:func:`draft_problems`), not refused. Only :func:`publish` insists on a valid
  definition: it checks the draft as :func:`~smeflow.engine.definitions.parse_definition` does
  (and more, below) and on any problem raises :class:`~smeflow.errors.ValidationFailed` listing
  every one (fields ``definition.<path>``), writing nothing.
- A sub-workflow step naming the workflow itself (by its name or id) is a problem of the draft
  like the others (``self_subworkflow``), so publishing refuses it.
- Publishing copies the draft into version ``latest_version + 1`` under a row lock on the
  workflow, so concurrent publishes of one workflow get consecutive, distinct numbers.
  Versions are immutable (the application role cannot UPDATE or DELETE them): a run pins one.
- Publishing also registers the version's schedule triggers (replacing the workflow's previous
  ones; see :mod:`smeflow.engine.schedules`); archiving removes them.
- Archived workflows keep their versions readable but take no more edits or publishes, and no
  trigger (schedule or webhook) starts them any more.
- Every change is audited (``workflow.created``, ``.updated``, ``.published``, ``.archived``)
  in the caller's transaction; functions flush, never commit. The session must be bound to
  ``tenant_id``; another tenant's workflow is :class:`~smeflow.errors.NotFound`, like one
  that does not exist.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import flag_modified

from smeflow.audit import Actor, record
from smeflow.core import new_id, utcnow
from smeflow.engine.definitions import (
    DefinitionProblem,
    WorkflowDefinition,
    definition_diff,
    parse_definition,
    validate_definition,
)
from smeflow.engine.models import Workflow, WorkflowVersion
from smeflow.engine.schedules import (
    FireScheduler,
    defer_fires_after_commit,
    register_schedules,
    remove_schedules,
)
from smeflow.engine.schemas import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, MAX_NOTE_LENGTH
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from smeflow.identity import Principal

Acting = Principal | Actor
MAX_DEPTH = 64  # nesting of a definition's JSON

_NO_WORKFLOW = "No such workflow"
_NO_VERSION = "No such version of this workflow"


def _actor(actor: Acting) -> Actor:
    return actor.actor if isinstance(actor, Principal) else actor


def _by(actor: Acting) -> str:
    """How the tables name who did it: ``"<type>:<id>"``."""
    who = _actor(actor)
    return f"{who.type}:{who.id}"


def _check_tenant(actor: Acting, tenant_id: uuid.UUID) -> None:
    # NotFound, never 403: a principal of another tenant learns nothing about this one.
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound(_NO_WORKFLOW)


def _invalid(field: str, message: str, code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(message, fields=[FieldProblem(field, message, code)])


def _clean_name(name: str) -> str:
    clean = name.strip()
    if not 1 <= len(clean) <= MAX_NAME_LENGTH:
        raise _invalid("name", f"The name must be 1 to {MAX_NAME_LENGTH} characters long")
    return clean


def _check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise _invalid("description", f"The description must be at most {MAX_DESCRIPTION_LENGTH} characters")
    return description


def _storable_problem(value: Any, path: str, depth: int) -> str | None:
    """Why ``value`` cannot be stored as JSONB (NUL characters, lone surrogates, NaN or
    infinities, non-JSON types, too deep), or ``None``."""
    if depth > MAX_DEPTH:
        return f"{path}: nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path}: text must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path}: text is not valid Unicode"
        return None
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path}: numbers must be finite"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}: keys must be text"
            here = f"{path}.{key}"
            found = _storable_problem(key, here, depth + 1) or _storable_problem(item, here, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            if found := _storable_problem(item, f"{path}[{index}]", depth + 1):
                return found
        return None
    return f"{path}: {type(value).__name__} is not JSON"


def _check_definition(definition: Any) -> dict[str, Any]:
    if not isinstance(definition, dict):
        raise _invalid("definition", "The definition must be a JSON object", "type")
    if (problem := _storable_problem(definition, "definition", 0)) is not None:
        raise _invalid("definition", problem)
    return definition


def definition_digest(definition: dict[str, Any]) -> str:
    """SHA-256 of a definition's JSON with sorted keys: what the audit log records of it."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _self_problems(workflow: Workflow, definition: dict[str, Any]) -> list[DefinitionProblem]:
    """The sub-workflow steps of ``definition`` that name the workflow itself (by its name, its id
    or the definition's name): such a step would start itself until the nesting limit stops it."""
    own = {workflow.name, str(workflow.id), definition.get("name")}
    nodes = definition.get("nodes")
    return [
        DefinitionProblem(
            f"nodes[{index}].config.workflow",
            "self_subworkflow",
            f"step {node.get('id')!r} runs this workflow itself; a workflow cannot be its own sub-workflow",
        )
        for index, node in enumerate(nodes if isinstance(nodes, list) else [])
        if isinstance(node, dict)
        and node.get("kind") == "subworkflow"
        and isinstance(node.get("config"), dict)
        and node["config"].get("workflow") in own
    ]


def draft_problems(workflow: Workflow) -> list[DefinitionProblem]:
    """Every problem of ``workflow``'s draft (empty: it can be published), including a sub-workflow
    step that names the workflow itself (``self_subworkflow``)."""
    draft = workflow.draft_definition
    return validate_definition(draft) + _self_problems(workflow, draft)


async def _flush_named(session: AsyncSession, name: str) -> None:
    """Flush; a name another workflow of the tenant has is a :class:`Conflict` on ``name``."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "uq_workflows_name" not in str(exc.orig):
            raise
        raise Conflict(
            f"a workflow named {name!r} already exists",
            fields=[FieldProblem("name", "already taken", "duplicate")],
        ) from exc


async def create_workflow(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    name: str,
    definition: dict[str, Any],
    description: str = "",
) -> tuple[Workflow, list[DefinitionProblem]]:
    """Create a workflow whose draft is ``definition`` (valid or not); returns it and the
    draft's problems. Records ``workflow.created``. :class:`ValidationFailed` names ``name``,
    ``description`` or ``definition`` (only for what cannot be stored at all: not an object,
    NUL characters, NaN…); :class:`Conflict` for a name already taken."""
    _check_tenant(actor, tenant_id)
    clean = _clean_name(name)
    _check_description(description)
    _check_definition(definition)
    now, by = utcnow(), _by(actor)
    workflow = Workflow(
        tenant_id=tenant_id,
        id=new_id(),
        name=clean,
        description=description,
        status="draft",
        draft_definition=definition,
        latest_version=None,
        created_at=now,
        created_by=by,
        updated_at=now,
        updated_by=by,
    )
    session.add(workflow)
    await _flush_named(session, clean)
    problems = draft_problems(workflow)
    await record(
        session,
        tenant_id,
        _actor(actor),
        "workflow.created",
        "workflow",
        str(workflow.id),
        {
            "name": clean,
            "description": description,
            "draft_sha256": definition_digest(definition),
            "draft_problems": len(problems),
        },
    )
    return workflow, problems


async def _locked(session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> Workflow:
    """The workflow, its row locked until the transaction ends (fresh from the database)."""
    query = (
        select(Workflow)
        .where(Workflow.tenant_id == tenant_id, Workflow.id == workflow_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    workflow = (await session.execute(query)).scalar_one_or_none()
    if workflow is None:
        raise NotFound(_NO_WORKFLOW)
    return workflow


def _refuse_archived(workflow: Workflow) -> None:
    if workflow.status == "archived":
        raise Conflict("The workflow is archived: it can no longer be changed or published")


async def update_draft(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    definition: dict[str, Any] | None = None,
) -> tuple[Workflow, list[DefinitionProblem]]:
    """Change the name, description and/or draft (``None``: unchanged); returns the workflow and
    its draft's problems. Records ``workflow.updated`` with what changed (the draft by digest)
    when anything did. :class:`Conflict` for an archived workflow or a name already taken."""
    _check_tenant(actor, tenant_id)
    clean = _clean_name(name) if name is not None else None
    if description is not None:
        _check_description(description)
    if definition is not None:
        _check_definition(definition)
    workflow = await _locked(session, tenant_id, workflow_id)
    _refuse_archived(workflow)
    changes: dict[str, Any] = {}
    if clean is not None and clean != workflow.name:
        changes["name"] = {"from": workflow.name, "to": clean}
        workflow.name = clean
    if description is not None and description != workflow.description:
        changes["description"] = {"from": workflow.description, "to": description}
        workflow.description = description
    if definition is not None:
        # by digest, not ==: in Python True == 1 == 1.0, in JSON they differ
        before, after = definition_digest(workflow.draft_definition), definition_digest(definition)
        if before != after:
            changes["draft_sha256"] = {"from": before, "to": after}
            workflow.draft_definition = definition
            flag_modified(workflow, "draft_definition")  # the ORM also compares with ==
    if changes:
        workflow.updated_at, workflow.updated_by = utcnow(), _by(actor)
        await _flush_named(session, workflow.name)
        await record(
            session, tenant_id, _actor(actor), "workflow.updated", "workflow", str(workflow.id), changes
        )
    return workflow, draft_problems(workflow)


async def get_workflow(session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> Workflow:
    """One of the tenant's workflows (with its draft); :class:`NotFound` otherwise."""
    query = select(Workflow).where(Workflow.tenant_id == tenant_id, Workflow.id == workflow_id)
    workflow = (await session.execute(query)).scalar_one_or_none()
    if workflow is None:
        raise NotFound(_NO_WORKFLOW)
    return workflow


async def list_workflows(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int,
    after_name: str | None = None,
    status: str | None = None,
) -> list[Workflow]:
    """The tenant's workflows ordered by name, without their drafts (reading
    ``draft_definition`` of one raises); pass the last name seen as ``after_name`` for the next
    page."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = (
        select(Workflow)
        .where(Workflow.tenant_id == tenant_id)
        .options(defer(Workflow.draft_definition, raiseload=True))
        .order_by(Workflow.name)
        .limit(limit)
    )
    if after_name is not None:
        query = query.where(Workflow.name > after_name)
    if status is not None:
        query = query.where(Workflow.status == status)
    return list((await session.execute(query)).scalars())


async def publish(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    note: str = "",
    *,
    scheduler: FireScheduler | None = None,
    check: Callable[[WorkflowDefinition], list[FieldProblem]] | None = None,
) -> WorkflowVersion:
    """Publish the draft as version ``latest_version + 1`` and mark the workflow active; its
    schedule triggers replace the workflow's (with ``scheduler``, their first fire jobs are
    deferred once the transaction commits).

    Records ``workflow.published`` (version, note, digest of the definition, first fire time).
    :class:`ValidationFailed` listing every problem of the draft (fields ``definition.<path>``)
    and nothing written if it is not valid, or if ``check`` (the runtime's rules, such as a
    money step needing an approval) finds problems; :class:`Conflict` for an archived workflow."""
    _check_tenant(actor, tenant_id)
    if len(note) > MAX_NOTE_LENGTH:
        raise _invalid("note", f"The note must be at most {MAX_NOTE_LENGTH} characters")
    workflow = await _locked(session, tenant_id, workflow_id)  # serializes publishes of it
    _refuse_archived(workflow)
    definition = workflow.draft_definition
    problems = draft_problems(workflow)
    if problems:
        count = len(problems)
        raise ValidationFailed(
            f"The draft cannot be published: {count} problem{'s' if count != 1 else ''} to fix first",
            fields=[FieldProblem(_definition_field(p.path), p.message, p.code) for p in problems],
        )
    parsed = parse_definition(definition)
    if check is not None and (refused := check(parsed)):
        count = len(refused)
        raise ValidationFailed(
            f"The draft cannot be published: {count} problem{'s' if count != 1 else ''} to fix first",
            fields=refused,
        )
    number = (workflow.latest_version or 0) + 1
    now, by = utcnow(), _by(actor)
    version = WorkflowVersion(
        tenant_id=tenant_id,
        workflow_id=workflow.id,
        version=number,
        definition=definition,
        published_at=now,
        published_by=by,
        note=note,
    )
    session.add(version)
    workflow.latest_version = number
    workflow.status = "active"
    workflow.updated_at, workflow.updated_by = now, by
    await session.flush()
    fires = await register_schedules(session, tenant_id, workflow.id, number, parsed, now=now)
    await record(
        session,
        tenant_id,
        _actor(actor),
        "workflow.published",
        "workflow",
        str(workflow.id),
        {
            "version": number,
            "note": note,
            "definition_sha256": definition_digest(definition),
            "next_fire_at": fires[0].isoformat() if fires else None,
        },
    )
    if scheduler is not None:
        defer_fires_after_commit(session, scheduler, tenant_id, workflow.id, fires)
    return version


def _definition_field(path: str) -> str:
    """A path inside a definition (``nodes[2].config``) as a field of the workflow."""
    if not path:
        return "definition"
    return f"definition{path}" if path.startswith("[") else f"definition.{path}"


async def archive(
    session: AsyncSession, actor: Acting, tenant_id: uuid.UUID, workflow_id: uuid.UUID
) -> Workflow:
    """Archive the workflow (idempotent): no more edits, publishes or triggered runs (its
    schedules are removed); its versions stay readable. Records ``workflow.archived`` when it
    changes."""
    _check_tenant(actor, tenant_id)
    workflow = await _locked(session, tenant_id, workflow_id)
    if workflow.status != "archived":
        previous = workflow.status
        workflow.status = "archived"
        workflow.updated_at, workflow.updated_by = utcnow(), _by(actor)
        await session.flush()
        await remove_schedules(session, tenant_id, workflow.id)
        await record(
            session,
            tenant_id,
            _actor(actor),
            "workflow.archived",
            "workflow",
            str(workflow.id),
            {"name": workflow.name, "previous_status": previous},
        )
    return workflow


async def get_version(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, version: int
) -> WorkflowVersion:
    """One published version; :class:`NotFound` for an unknown workflow or version."""
    query = select(WorkflowVersion).where(
        WorkflowVersion.tenant_id == tenant_id,
        WorkflowVersion.workflow_id == workflow_id,
        WorkflowVersion.version == version,
    )
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        await get_workflow(session, tenant_id, workflow_id)  # NotFound naming the workflow if that is it
        raise NotFound(_NO_VERSION)
    return found


async def list_versions(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    *,
    limit: int,
    before_version: int | None = None,
) -> list[WorkflowVersion]:
    """The workflow's versions, newest first, without their definitions (reading one raises);
    pass the last version seen as ``before_version`` for the next page. :class:`NotFound` for
    an unknown workflow."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    await get_workflow(session, tenant_id, workflow_id)
    query = (
        select(WorkflowVersion)
        .where(WorkflowVersion.tenant_id == tenant_id, WorkflowVersion.workflow_id == workflow_id)
        .options(defer(WorkflowVersion.definition, raiseload=True))
        .order_by(WorkflowVersion.version.desc())
        .limit(limit)
    )
    if before_version is not None:
        query = query.where(WorkflowVersion.version < before_version)
    return list((await session.execute(query)).scalars())


async def diff_versions(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, from_version: int, to_version: int
) -> list[dict[str, Any]]:
    """What changed from ``from_version`` to ``to_version`` of the workflow
    (:func:`~smeflow.engine.definitions.definition_diff`); :class:`NotFound` for an unknown
    workflow or version."""
    a = await get_version(session, tenant_id, workflow_id, from_version)
    b = a if to_version == from_version else await get_version(session, tenant_id, workflow_id, to_version)
    return definition_diff(a.definition, b.definition)


__all__ = [
    "Acting",
    "archive",
    "create_workflow",
    "definition_digest",
    "diff_versions",
    "draft_problems",
    "get_version",
    "get_workflow",
    "list_versions",
    "list_workflows",
    "publish",
    "update_draft",
]
