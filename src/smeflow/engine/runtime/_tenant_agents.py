"""A tenant's own agents (rows of ``agents``) as the engine's :class:`Agent`: an agent step naming
an agent that is not built in asks the tenant's agent of that name, through
:class:`smeflow.agents.AgentService`, with the step's tools and journal."""

from __future__ import annotations

from collections.abc import Collection

from smeflow.agents import AgentService, AgentUnavailable, ToolRefused, TurnContext
from smeflow.engine.definitions import AgentNode, WorkflowDefinition
from smeflow.engine.runtime._agents import AgentCall, AgentRegistry, AgentReply, AgentRequest
from smeflow.engine.runtime._errors import StepFailed, TransientStepError
from smeflow.errors import FieldProblem, SMEFlowError


class TenantAgents:
    """Answers for every agent name the built-in registry does not know."""

    def __init__(self, service: AgentService) -> None:
        self.service = service

    @property
    def name(self) -> str:
        return "tenant"

    async def run(self, call: AgentCall, request: AgentRequest) -> AgentReply:
        ctx = TurnContext(
            tenant_id=call.tenant_id,
            run_id=call.run_id,
            node_id=call.node_id,
            key=call.idempotency_key,
            http=call.http,
            journal=call.journal,
            toolbox_for=call.toolbox_for,
        )
        try:
            result = await self.service.turn(
                ctx,
                request.agent_name or "",
                instructions=request.instructions,
                given=request.input,
                language=request.language,
            )
        except (AgentUnavailable, ToolRefused) as exc:
            raise StepFailed(exc.message) from None
        except SMEFlowError as exc:
            raise (TransientStepError if exc.retryable else StepFailed)(exc.message) from None
        return AgentReply(
            output=result.output,
            confidence=result.confidence,
            cost_micros=result.cost_micros,
            model=result.model,
            tokens_in=result.tokens_in,
            tokens_out=result.tokens_out,
        )


def agent_problems(
    definition: WorkflowDefinition, registry: AgentRegistry, tenant_agents: Collection[str]
) -> list[FieldProblem]:
    """Every agent step naming an agent that is neither built in nor one of the tenant's."""
    problems = []
    for index, node in enumerate(definition.nodes):
        if not isinstance(node, AgentNode):
            continue
        name = node.config.agent
        if name in registry.names() or name in tenant_agents:
            continue
        problems.append(
            FieldProblem(
                f"definition.nodes[{index}].config.agent",
                f"step {node.id!r} asks the agent {name!r}, which this tenant does not have "
                "(create it first, or use a built-in agent)",
                "unknown_agent",
            )
        )
    return problems


__all__ = ["TenantAgents", "agent_problems"]
