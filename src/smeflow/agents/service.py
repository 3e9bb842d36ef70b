"""Agents: create, change, list, disable. Each change is audited in its own transaction.

Key contracts:

* The model an agent names must be allowed by the tenant's residency policy
  (``residency.llm_providers``; ``offline`` is always allowed, it never leaves this server): a
  forbidden provider is refused on ``config.model`` and nothing is stored.
* A mentor has no side effects: it may only name tools that read. Tools must exist
  (``known_tools``, from the caller's action registry). A supervisor routes to agents of the same
  tenant that exist and are not itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.agents._providers import parse_model_ref
from smeflow.agents.models import Agent
from smeflow.agents.schemas import AgentConfig, AgentCreate, AgentUpdate
from smeflow.audit import Actor, record
from smeflow.core import utcnow
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from smeflow.identity import Principal
from smeflow.tenancy.models import Tenant

Acting = Principal | Actor
_NO_AGENT = "no such agent"


def _actor(actor: Acting) -> Actor:
    return actor.actor if isinstance(actor, Principal) else actor


def _check_tenant(actor: Acting, tenant_id: uuid.UUID) -> None:
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound(_NO_AGENT)


def _invalid(field: str, message: str, code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(message, fields=[FieldProblem(field, message, code)])


def allowed_providers(tenant: Tenant) -> list[str]:
    """The providers the tenant's residency policy lets see its data (``offline`` always)."""
    listed = [str(p) for p in (tenant.residency or {}).get("llm_providers", ["offline"])]
    return ["offline", *[p for p in listed if p != "offline"]]


async def _check_config(
    session: AsyncSession,
    tenant: Tenant,
    name: str,
    type_: str,
    config: AgentConfig,
    known_tools: Mapping[str, str],
) -> None:
    problems: list[FieldProblem] = []
    try:
        ref = parse_model_ref(config.model)
    except ValueError as exc:
        raise _invalid("config.model", str(exc), "unknown_model") from None
    allowed = allowed_providers(tenant)
    if ref.provider not in allowed:
        problems.append(
            FieldProblem(
                "config.model",
                f"the tenant's data residency policy does not allow the provider {ref.provider!r} "
                f"to see its data (allowed: {', '.join(allowed)}); change the policy first",
                "provider_forbidden",
            )
        )
    for i, tool in enumerate(config.tools):
        effect = known_tools.get(tool)
        if effect is None:
            problems.append(
                FieldProblem(f"config.tools[{i}]", f"no tool named {tool!r} is installed", "unknown")
            )
        elif type_ == "mentor" and effect != "read":
            problems.append(
                FieldProblem(
                    f"config.tools[{i}]",
                    f"a mentor only advises: {tool!r} {effect}s, so it may not use it",
                    "side_effect",
                )
            )
    if type_ == "mentor":
        for i, server in enumerate(config.mcp_servers):
            if server.effect != "read":
                problems.append(
                    FieldProblem(
                        f"config.mcp_servers[{i}].effect", "a mentor may only use read tools", "side_effect"
                    )
                )
    if type_ == "supervisor":
        targets = {*config.routes.values(), *([config.default_route] if config.default_route else [])}
        if not targets:
            problems.append(
                FieldProblem("config.routes", "a supervisor routes to at least one agent", "required")
            )
        names = set(
            (
                await session.scalars(
                    select(Agent.name).where(Agent.tenant_id == tenant.id, Agent.name.in_(targets))
                )
            ).all()
        )
        for target in sorted(targets):
            if target == name:
                problems.append(FieldProblem("config.routes", "a supervisor cannot route to itself", "loop"))
            elif target not in names:
                problems.append(FieldProblem("config.routes", f"no agent named {target!r}", "unknown"))
    elif config.routes or config.default_route:
        problems.append(
            FieldProblem("config.routes", "only a supervisor routes to other agents", "not_allowed")
        )
    if problems:
        raise ValidationFailed(problems[0].message, fields=problems)


async def _tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("no such tenant")
    return tenant


async def create_agent(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    data: AgentCreate,
    known_tools: Mapping[str, str],
) -> Agent:
    """A new agent; :class:`ValidationFailed` names the field, :class:`Conflict` a taken name."""
    _check_tenant(actor, tenant_id)
    tenant = await _tenant(session, tenant_id)
    await _check_config(session, tenant, data.name, data.type, data.config, known_tools)
    who = _actor(actor)
    agent = Agent(
        tenant_id=tenant_id,
        name=data.name,
        type=data.type,
        config=data.config.model_dump(mode="json"),
        status="active",
        created_by=f"{who.type}:{who.id}",
    )
    session.add(agent)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "uq_agents_tenant_id_name" not in str(exc.orig):
            raise
        raise Conflict(
            f"an agent named {data.name!r} already exists",
            fields=[FieldProblem("name", "already taken", "duplicate")],
        ) from exc
    await record(session, tenant_id, who, "agent.created", "agent", str(agent.id), _audited(agent))
    return agent


def _audited(agent: Agent) -> dict[str, Any]:
    config = dict(agent.config)
    # numbers in the audit chain are integers (canonical JSON): keep thresholds as text
    for key in ("confidence_threshold", "temperature"):
        if config.get(key) is not None:
            config[key] = str(config[key])
    return {"name": agent.name, "type": agent.type, "status": agent.status, "config": config}


async def get_agent(session: AsyncSession, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> Agent:
    agent = await session.get(Agent, (tenant_id, agent_id))
    if agent is None:
        raise NotFound(_NO_AGENT)
    return agent


async def find_agent(session: AsyncSession, tenant_id: uuid.UUID, name_or_id: str) -> Agent | None:
    """The tenant's agent by name, or by id."""
    agent = await session.scalar(select(Agent).where(Agent.tenant_id == tenant_id, Agent.name == name_or_id))
    if agent is not None:
        return agent
    try:
        return await session.get(Agent, (tenant_id, uuid.UUID(name_or_id)))
    except ValueError:
        return None


async def list_agents(session: AsyncSession, tenant_id: uuid.UUID) -> list[Agent]:
    rows = await session.scalars(select(Agent).where(Agent.tenant_id == tenant_id).order_by(Agent.name))
    return list(rows.all())


async def update_agent(
    session: AsyncSession,
    actor: Acting,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    patch: AgentUpdate,
    known_tools: Mapping[str, str],
) -> Agent:
    _check_tenant(actor, tenant_id)
    agent = await session.get(Agent, (tenant_id, agent_id), with_for_update=True)
    if agent is None:
        raise NotFound(_NO_AGENT)
    if patch.config is not None:
        tenant = await _tenant(session, tenant_id)
        await _check_config(session, tenant, agent.name, agent.type, patch.config, known_tools)
        agent.config = patch.config.model_dump(mode="json")
    if patch.status is not None:
        agent.status = patch.status
    agent.updated_at = utcnow()
    await session.flush()
    await record(session, tenant_id, _actor(actor), "agent.updated", "agent", str(agent.id), _audited(agent))
    return agent


async def delete_agent(
    session: AsyncSession, actor: Acting, tenant_id: uuid.UUID, agent_id: uuid.UUID
) -> None:
    _check_tenant(actor, tenant_id)
    agent = await get_agent(session, tenant_id, agent_id)
    await session.delete(agent)
    await session.flush()
    await record(
        session, tenant_id, _actor(actor), "agent.deleted", "agent", str(agent_id), {"name": agent.name}
    )


__all__ = [
    "allowed_providers",
    "create_agent",
    "delete_agent",
    "find_agent",
    "get_agent",
    "list_agents",
    "update_agent",
]
