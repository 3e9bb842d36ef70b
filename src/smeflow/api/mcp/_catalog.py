"""Which tools a caller sees: the built-in workflow tools and the connector actions of the
tenant's active integrations, each with the permissions it needs."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from smeflow.agents import ToolSpec
from smeflow.connectors import ActionDef
from smeflow.db import Database, DbScope
from smeflow.engine.runtime import Action, RunQueue
from smeflow.identity import Authorizer, Principal
from smeflow.integrations import list_integrations

#: what a connector tool needs: what starting a workflow that calls it needs, and seeing integrations
CONNECTOR_PERMISSIONS = ("runs:write", "integrations:read")
MAX_INTEGRATIONS = 1000
IDEMPOTENCY_KEY = "idempotency_key"


@dataclass(frozen=True, slots=True)
class McpBackend:
    """What the MCP tools act through: the database, the authorization rules and the run queue
    (whose runtime holds the action registry, the connectors and the guarded HTTP client)."""

    db: Database
    authorizer: Authorizer
    runs: RunQueue


class WorkflowsListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkflowStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(min_length=1, max_length=200, description="the workflow's name or id")
    input: dict[str, JsonValue] = Field(
        default_factory=dict, description="the run's input: an object matching the workflow's input schema"
    )
    version: int | None = Field(
        None, ge=1, le=2**31 - 1, description="a published version (default: the newest)"
    )
    order_key: str | None = Field(
        None, min_length=1, max_length=200, description="runs with the same key execute one at a time"
    )


class RunGetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID = Field(description="the run's id, as workflow_start gave it")


@dataclass(frozen=True, slots=True)
class Builtin:
    spec: ToolSpec
    permissions: tuple[str, ...]
    model: type[BaseModel]


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return schema


def _builtin(
    name: str, description: str, model: type[BaseModel], permission: str, effect: str = "read"
) -> Builtin:
    spec = ToolSpec(name, description, _schema(model), "write" if effect == "write" else "read")
    return Builtin(spec, (permission,), model)


BUILTINS: dict[str, Builtin] = {
    b.spec.name: b
    for b in (
        _builtin(
            "workflows_list",
            "The tenant's published workflows: id, name, newest version and the JSON Schema of the "
            "input a run takes.",
            WorkflowsListIn,
            "workflows:read",
        ),
        _builtin(
            "workflow_start",
            "Start a run of a published workflow (by name or id) with an input object; answers the "
            "run's id and status (queued: a worker executes it; read it with run_get). Money never "
            "moves through a direct tool: payments happen only inside workflows, where a person "
            "approves them.",
            WorkflowStartIn,
            "runs:write",
            "write",
        ),
        _builtin(
            "run_get",
            "One run of the tenant: its status, output (once it has ended) or why it failed.",
            RunGetIn,
            "runs:read",
        ),
    )
}


def allowed(authorizer: Authorizer, principal: Principal, permissions: tuple[str, ...]) -> bool:
    """Whether ``principal`` has every one of ``permissions``."""
    for permission in permissions:
        obj, _, act = permission.partition(":")
        if not authorizer.allowed(principal, obj, act):
            return False
    return True


def connector_tool_schema(action: Action, integrations: list[str]) -> dict[str, Any]:
    """An action's input schema as a tool's: the tenant's integration names to choose from and,
    for a write, the caller's idempotency key (required)."""
    schema = copy.deepcopy(_schema(action.input_model))
    properties: dict[str, Any] = schema.setdefault("properties", {})
    if "integration" in properties:
        properties["integration"] = dict(properties["integration"], enum=sorted(integrations))
    if action.effect == "write":
        properties[IDEMPOTENCY_KEY] = {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": (
                "your key for this change: a call repeated with the same key does not repeat "
                "the change and answers the first call's result"
            ),
        }
        schema["required"] = sorted({*schema.get("required", []), IDEMPOTENCY_KEY})
    return schema


async def active_integrations(db: Database, tenant_id: uuid.UUID) -> dict[str, list[str]]:
    """The names of the tenant's active integrations, by connector key."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        rows = await list_integrations(session, tenant_id, limit=MAX_INTEGRATIONS)
    found: dict[str, list[str]] = {}
    for row in rows:
        if row.status == "active":
            found.setdefault(row.connector, []).append(row.name)
    return found


def connector_actions(backend: McpBackend, connector_keys: set[str]) -> list[tuple[str, ActionDef, Action]]:
    """The runtime's read and write actions of the given connectors, with their connector's key
    and definition (never a money action)."""
    kit = backend.runs.runtime.integrations
    if kit is None:
        return []
    found: list[tuple[str, ActionDef, Action]] = []
    for connector in kit.registry.all():
        if connector.key not in connector_keys:
            continue
        for definition in type(connector).actions():
            action = backend.runs.runtime.actions.get(definition.name)
            if action is not None and action.effect in ("read", "write"):
                found.append((connector.key, definition, action))
    return found


async def catalog(backend: McpBackend, principal: Principal) -> list[ToolSpec]:
    """The tools ``principal`` may call, by name."""
    specs = [b.spec for b in BUILTINS.values() if allowed(backend.authorizer, principal, b.permissions)]
    if principal.tenant_id is not None and allowed(backend.authorizer, principal, CONNECTOR_PERMISSIONS):
        integrations = await active_integrations(backend.db, principal.tenant_id)
        for key, definition, action in connector_actions(backend, set(integrations)):
            description = definition.description or definition.title
            schema = connector_tool_schema(action, integrations[key])
            specs.append(ToolSpec(action.name, description, schema, action.effect))
    return sorted(specs, key=lambda spec: spec.name)


__all__ = [
    "BUILTINS",
    "CONNECTOR_PERMISSIONS",
    "IDEMPOTENCY_KEY",
    "Builtin",
    "McpBackend",
    "RunGetIn",
    "WorkflowStartIn",
    "WorkflowsListIn",
    "active_integrations",
    "allowed",
    "catalog",
    "connector_actions",
    "connector_tool_schema",
]
