"""Agents: a tenant's automators, mentors and supervisors, and what its language models cost.

Reading needs ``agents:read`` (every member); creating, changing and deleting ``agents:write``
(admins and owners). An agent's model must be one the tenant's data residency policy allows
(`residency.llm_providers`; `offline` always is): a forbidden provider is a 422 on
`body.config.model` and nothing is stored. `POST /api/v1/agents/{id}/try` asks the agent one
question outside any workflow (its tools are not offered there), and costs what it costs.
`GET /api/v1/usage` totals model use by day, agent and model, with the month's budget.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from smeflow.agents import AgentService, TurnContext, usage
from smeflow.agents.schemas import AgentCreate, AgentOut, AgentUpdate, UsageOut
from smeflow.agents.service import create_agent, delete_agent, get_agent, list_agents, update_agent
from smeflow.api._deps import State, require, require_tenant
from smeflow.api._state import AppState
from smeflow.api.routes._fields import body_fields
from smeflow.core import utcnow
from smeflow.db import DbScope
from smeflow.engine.runtime import known_tools
from smeflow.errors import ConfigurationError, FieldProblem, NotFound, ValidationFailed
from smeflow.identity import Principal
from smeflow.tenancy.models import Tenant

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])
usage_router = APIRouter(prefix="/api/v1/usage", tags=["agents"])

_DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else None
MAX_USAGE_DAYS = 366


def _scope(principal: Principal) -> tuple[uuid.UUID, DbScope]:
    tenant_id: uuid.UUID = require_tenant(principal)
    return tenant_id, DbScope.tenant(tenant_id, principal.user_id)


def _tools(state: AppState) -> dict[str, str]:
    return known_tools(state.runs.runtime.actions)


@router.get("", summary="The tenant's agents, by name", description=_DESCRIPTION)
async def list_all(state: State, principal: Annotated[Principal, require("agents:read")]) -> list[AgentOut]:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return [AgentOut.of(agent) for agent in await list_agents(session, tenant_id)]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an agent", description=_DESCRIPTION)
async def create(
    body: AgentCreate, state: State, principal: Annotated[Principal, require("agents:write")]
) -> AgentOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            agent = await create_agent(session, principal, tenant_id, body, _tools(state))
            return AgentOut.of(agent)


@router.get("/{agent_id}", summary="One agent")
async def get_one(
    agent_id: uuid.UUID, state: State, principal: Annotated[Principal, require("agents:read")]
) -> AgentOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return AgentOut.of(await get_agent(session, tenant_id, agent_id))


@router.patch("/{agent_id}", summary="Change an agent's configuration, or disable or enable it")
async def patch_one(
    agent_id: uuid.UUID,
    body: AgentUpdate,
    state: State,
    principal: Annotated[Principal, require("agents:write")],
) -> AgentOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            agent = await update_agent(session, principal, tenant_id, agent_id, body, _tools(state))
            return AgentOut.of(agent)


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an agent")
async def delete_one(
    agent_id: uuid.UUID, state: State, principal: Annotated[Principal, require("agents:write")]
) -> None:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        await delete_agent(session, principal, tenant_id, agent_id)


class TryIn(BaseModel):
    """A question for the agent, as a customer would send it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)
    language: str | None = Field(None, min_length=2, max_length=3, description="the customer's, if known")
    input: dict[str, JsonValue] = Field(
        default_factory=dict, description="more of what a workflow would give"
    )


class TryOut(BaseModel):
    output: dict[str, Any]
    confidence: float
    cost_micros: int
    model: str
    tokens_in: int
    tokens_out: int


@router.post("/{agent_id}/try", summary="Ask the agent one question (outside any workflow, no tools)")
async def try_one(
    agent_id: uuid.UUID, body: TryIn, state: State, principal: Annotated[Principal, require("agents:write")]
) -> TryOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        agent = await get_agent(session, tenant_id, agent_id)
        name = agent.name
    service = _service(state)
    ctx = TurnContext(
        tenant_id=tenant_id, run_id=None, node_id=None, key=f"try:{uuid.uuid4()}", http=state.http
    )
    result = await service.turn(
        ctx, name, instructions=None, given=dict(body.input) | {"text": body.text}, language=body.language
    )
    return TryOut(
        output=result.output,
        confidence=result.confidence,
        cost_micros=result.cost_micros,
        model=result.model,
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
    )


def _service(state: AppState) -> AgentService:
    tenants = state.runs.runtime.agents.tenants
    service = getattr(tenants, "service", None)
    if not isinstance(service, AgentService):
        raise ConfigurationError("this process runs no tenant agents")
    return service


@usage_router.get(
    "", summary="Language-model use and cost, by day, agent and model", description=_DESCRIPTION
)
async def get_usage(
    state: State,
    principal: Annotated[Principal, require("usage:read")],
    since: Annotated[date | None, Query(description="first day (UTC); 30 days ago if not given")] = None,
    until: Annotated[date | None, Query(description="last day (UTC); today if not given")] = None,
) -> UsageOut:
    tenant_id, scope = _scope(principal)
    today = utcnow().date()
    until = until or today
    since = since or until - timedelta(days=29)
    if since > until:
        raise ValidationFailed(fields=[FieldProblem("query.since", "since comes after until")])
    if (until - since).days >= MAX_USAGE_DAYS:
        raise ValidationFailed(fields=[FieldProblem("query.since", f"at most {MAX_USAGE_DAYS} days at once")])
    async with state.db.transaction(scope) as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        return await usage(session, state.settings, tenant, since, until)
