"""Calling a tool: the permission check, the argument check, the call and its audit record.

Key contracts:

* A tool the caller may not call, or one that does not exist, is the same :class:`NotFound`
  ("No tool named …"): a caller learns nothing about tools it cannot see. Another tenant's
  workflow or run is :class:`NotFound` too (the session is bound to the caller's tenant).
* Arguments are checked before anything happens: every problem is named ``arguments.<field>``.
* A write tool's effect happens at most once per (tenant, tool, ``idempotency_key``): under a
  transaction-scoped advisory lock on that key, the ``mcp.tool_called`` audit event of an earlier
  call with the key is looked up; found, its result is answered and nothing is called; else the
  action runs (the provider gets the derived key as its idempotency key) and its result is
  recorded in that event, committed with the lock released. The audit log is the journal: no
  table of its own. A call that completed but whose record did not commit (the process died) is
  made once more with the *same* provider key, as the engine's journal does.
* Read tools run directly; their call is audited (``mcp.tool_called``) after it. A failed call is
  audited ``mcp.tool_failed`` and answered with SMEFlow's readable message.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
from pydantic import BaseModel, JsonValue, ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.api.mcp._catalog import (
    BUILTINS,
    CONNECTOR_PERMISSIONS,
    IDEMPOTENCY_KEY,
    McpBackend,
    RunGetIn,
    WorkflowStartIn,
    active_integrations,
    allowed,
    connector_actions,
)
from smeflow.audit import AuditEvent, record
from smeflow.db import Database, DbScope
from smeflow.engine.models import Workflow
from smeflow.engine.runtime import Action, ActionContext, get_run, start_run
from smeflow.engine.workflows import get_version, list_workflows
from smeflow.errors import FieldProblem, NotFound, SMEFlowError, ValidationFailed
from smeflow.identity import Principal

CALLED = "mcp.tool_called"
FAILED = "mcp.tool_failed"
TARGET = "mcp_call"
MAX_WORKFLOWS = 500


def _checked(model: type[BaseModel], arguments: dict[str, Any]) -> Any:
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        problems = [
            FieldProblem(
                ".".join(["arguments", *(str(p) for p in error["loc"])]), error["msg"], error["type"]
            )
            for error in exc.errors()
        ]
        named = ", ".join(f"{p.field}: {p.message}" for p in problems)
        raise ValidationFailed(f"The tool's arguments are not valid ({named})", fields=problems) from None


def _no_tool(name: str) -> NotFound:
    return NotFound(f"No tool named {name!r} is available to this API key")


def _tenant(principal: Principal) -> uuid.UUID:
    if principal.tenant_id is None:
        raise NotFound("MCP tools act on a tenant; use an API key of the tenant")
    return principal.tenant_id


def _scope(principal: Principal) -> DbScope:
    return DbScope.tenant(_tenant(principal), principal.user_id)


async def call(backend: McpBackend, principal: Principal, name: str, arguments: dict[str, Any]) -> JsonValue:
    """Call tool ``name`` as ``principal``; its JSON result, or an :class:`SMEFlowError`."""
    if not isinstance(arguments, dict):
        raise ValidationFailed(
            "The tool's arguments must be an object", fields=[FieldProblem("arguments", "must be an object")]
        )
    builtin = BUILTINS.get(name)
    if builtin is not None:
        if not allowed(backend.authorizer, principal, builtin.permissions):
            raise _no_tool(name)
        data = _checked(builtin.model, arguments)
        if name == "workflows_list":
            return await _workflows(backend, principal)
        if name == "workflow_start":
            return await _start(backend, principal, data)
        return await _run(backend, principal, data)
    return await _connector_call(backend, principal, name, arguments)


async def _workflows(backend: McpBackend, principal: Principal) -> JsonValue:
    tenant_id = _tenant(principal)
    found: list[JsonValue] = []
    async with backend.db.transaction(_scope(principal)) as session:
        rows = await list_workflows(session, tenant_id, limit=MAX_WORKFLOWS, status="active")
        for workflow in rows:
            if workflow.latest_version is None:
                continue
            version = await get_version(session, tenant_id, workflow.id, workflow.latest_version)
            schema = version.definition.get("input_schema") or {"type": "object"}
            found.append(
                {
                    "id": str(workflow.id),
                    "name": workflow.name,
                    "description": workflow.description,
                    "version": workflow.latest_version,
                    "input_schema": schema,
                }
            )
    return {"workflows": found}


async def _workflow_id(session: AsyncSession, tenant_id: uuid.UUID, name_or_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(name_or_id)
    except ValueError:
        pass
    found = (
        await session.execute(
            select(Workflow.id).where(Workflow.tenant_id == tenant_id, Workflow.name == name_or_id)
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("No such workflow")
    return found


async def _start(backend: McpBackend, principal: Principal, data: WorkflowStartIn) -> JsonValue:
    tenant_id = _tenant(principal)
    async with backend.db.transaction(_scope(principal)) as session:
        workflow_id = await _workflow_id(session, tenant_id, data.workflow)
        try:
            run = await start_run(
                session,
                principal,
                tenant_id,
                workflow_id,
                data.input,
                data.version,
                order_key=data.order_key,
                queue=backend.runs,
            )
        except (
            ValidationFailed
        ) as exc:  # the service names input.<path>; the tool's field is arguments.input…
            fields = [FieldProblem(f"arguments.{p.field}", p.message, p.code) for p in exc.fields]
            named = ", ".join(f"{p.field}: {p.message}" for p in fields)
            raise ValidationFailed(
                f"{exc.message} ({named})" if named else exc.message, fields=fields
            ) from None
        return {
            "run_id": str(run.id),
            "status": run.status,
            "workflow_id": str(workflow_id),
            "version": run.version,
        }


def run_view(run: Any) -> dict[str, JsonValue]:
    """What ``run_get`` shows of a run."""
    return {
        "run_id": str(run.id),
        "workflow_id": str(run.workflow_id),
        "version": run.version,
        "status": run.status,
        "output": run.output,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


async def _run(backend: McpBackend, principal: Principal, data: RunGetIn) -> JsonValue:
    async with backend.db.transaction(_scope(principal)) as session:
        return run_view(await get_run(session, _tenant(principal), data.run_id))


def call_key(tenant_id: uuid.UUID, tool: str, key: str) -> str:
    """The derived idempotency key of a write tool call: the same for the same tenant, tool and
    caller key, different otherwise (and nothing of the caller's key shows through)."""
    digest = hashlib.sha256(f"{tenant_id}\x00{tool}\x00{key}".encode()).hexdigest()
    return f"mcp-{digest[:48]}"


async def _connector_call(
    backend: McpBackend, principal: Principal, name: str, arguments: dict[str, Any]
) -> JsonValue:
    if principal.tenant_id is None or not allowed(backend.authorizer, principal, CONNECTOR_PERMISSIONS):
        raise _no_tool(name)
    tenant_id = principal.tenant_id
    integrations = await active_integrations(backend.db, tenant_id)
    action = next((a for _, _, a in connector_actions(backend, set(integrations)) if a.name == name), None)
    if action is None:
        raise _no_tool(name)
    given = dict(arguments)
    key = given.pop(IDEMPOTENCY_KEY, None) if action.effect == "write" else None
    if action.effect == "write" and (not isinstance(key, str) or not 1 <= len(key) <= 200):
        message = "a write tool needs an idempotency_key: a text of 1 to 200 characters"
        raise ValidationFailed(
            message, fields=[FieldProblem(f"arguments.{IDEMPOTENCY_KEY}", message, "missing")]
        )
    data = _checked(action.input_model, given)
    if key is None:
        return await _read(backend, principal, action, data)
    return await _write(backend, principal, action, data, call_key(tenant_id, name, key))


def _context(backend: McpBackend, tenant_id: uuid.UUID, name: str, key: str) -> ActionContext:
    run_id = uuid.uuid5(uuid.NAMESPACE_URL, f"smeflow:mcp:{key}")  # no run: an id for the logs only
    return ActionContext(tenant_id, run_id, f"mcp:{name}", key, backend.runs.runtime.http)


def _details(action: Action, data: Any, key: str | None) -> dict[str, Any]:
    return {
        "tool": action.name,
        "effect": action.effect,
        "integration": str(getattr(data, "integration", "")),
    } | ({"key": key} if key else {})


async def _audit(db: Database, principal: Principal, action: str, target: str, data: dict[str, Any]) -> None:
    async with db.transaction(_scope(principal)) as session:
        await record(session, _tenant(principal), principal.actor, action, TARGET, target, data)


async def _read(backend: McpBackend, principal: Principal, action: Action, data: Any) -> JsonValue:
    tenant_id = _tenant(principal)
    key = f"mcp-read-{uuid.uuid4().hex}"
    try:
        result = await action.run(_context(backend, tenant_id, action.name, key), data)
    except SMEFlowError as exc:
        await _audit(
            backend.db, principal, FAILED, action.name, _details(action, data, None) | {"error": exc.message}
        )
        raise
    await _audit(backend.db, principal, CALLED, action.name, _details(action, data, None))
    return result


_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def _journaled(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> AuditEvent | None:
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.tenant_id == tenant_id,
            AuditEvent.action == CALLED,
            AuditEvent.target_type == TARGET,
            AuditEvent.target_id == key,
        )
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _write(backend: McpBackend, principal: Principal, action: Action, data: Any, key: str) -> JsonValue:
    tenant_id = _tenant(principal)
    async with backend.db.transaction(_scope(principal)) as session:
        await session.execute(_LOCK, {"key": f"{tenant_id}:{key}"})
        earlier = await _journaled(session, tenant_id, key)
        if earlier is not None:
            if earlier.data.get("tool") != action.name:  # cannot happen: the key carries the tool
                raise ValidationFailed("The idempotency key was used for another tool")
            journaled: JsonValue = orjson.loads(earlier.data["result"])
            return journaled
        try:
            result = await action.run(_context(backend, tenant_id, action.name, key), data)
        except SMEFlowError as exc:
            await record(
                session,
                tenant_id,
                principal.actor,
                FAILED,
                TARGET,
                key,
                _details(action, data, key) | {"error": exc.message},
            )
            failed = exc
        else:
            stored = orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS).decode()
            await record(
                session,
                tenant_id,
                principal.actor,
                CALLED,
                TARGET,
                key,
                _details(action, data, key) | {"result": stored},
            )
            return result
    raise failed


__all__ = ["CALLED", "FAILED", "TARGET", "call", "call_key", "run_view"]
