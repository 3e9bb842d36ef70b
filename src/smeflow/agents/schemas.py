"""Agents in and out of the API, and their configuration as stored."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from smeflow.agents.models import Agent

AgentType = Literal["automator", "mentor", "supervisor"]
AgentStatus = Literal["active", "disabled"]
AgentName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[\w .:-]+$")
]
ToolName = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Utterance = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
IntentName = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")]


class McpServerConfig(BaseModel):
    """An external MCP server whose tools the agent may use (streamable HTTP only: SMEFlow never
    starts programs a tenant names)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://")]
    tools: list[ToolName] | None = Field(None, description="the tools allowed; all if not given")
    effect: Literal["read", "write"] = Field(
        "write", description="what its tools are assumed to do (write: journaled, reviewed by supervisors)"
    )


class AgentConfig(BaseModel):
    """How an agent works."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        "offline",
        description="`offline` (understanding on this server, no cost) or `provider:model`, e.g. "
        "openai:gpt-4o-mini, anthropic:claude-3-5-haiku-latest, google_genai:gemini-2.0-flash, "
        "openai_compatible:llama3.1 (a local server)",
    )
    integration: str | None = Field(
        None, max_length=200, description="the integration holding the provider's key (name or id)"
    )
    instructions: str = Field("", max_length=8000, description="persona and standing instructions")
    tools: list[ToolName] = Field(default_factory=list, max_length=50, description="action names it may call")
    mcp_servers: list[McpServerConfig] = Field(default_factory=list, max_length=5)
    languages: list[Annotated[str, StringConstraints(min_length=2, max_length=3)]] = Field(
        default_factory=list, description="languages it answers in; the tenant's default if empty"
    )
    confidence_threshold: float = Field(0.6, ge=0, le=1, description="below this it hands over to a person")
    budget_micros: int | None = Field(
        None, ge=0, description="its own monthly spend limit (millionths of a USD), within the tenant's"
    )
    temperature: float | None = Field(None, ge=0, le=2)
    max_output_tokens: int = Field(512, ge=16, le=8192)
    max_tool_rounds: int = Field(4, ge=1, le=10)
    intents: dict[IntentName, list[Utterance]] = Field(
        default_factory=dict, description="more example messages per intent, for offline understanding"
    )
    replies: dict[IntentName, Annotated[str, StringConstraints(min_length=1, max_length=80)]] = Field(
        default_factory=dict, description="the message catalog key that answers each intent offline"
    )
    routes: dict[IntentName, AgentName] = Field(
        default_factory=dict, description="supervisor: which agent takes each intent"
    )
    default_route: AgentName | None = Field(None, description="supervisor: the agent for any other intent")
    review_writes: bool = Field(
        False, description="supervisor: a person approves the write tools of the agents it routes to"
    )
    cache: bool = Field(True, description="reuse answers to the same or a very similar question")


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: AgentName
    type: AgentType
    config: AgentConfig = Field(default_factory=AgentConfig)


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: AgentConfig | None = None
    status: AgentStatus | None = None


class AgentOut(BaseModel):
    id: uuid.UUID
    name: str
    type: AgentType
    status: AgentStatus
    config: AgentConfig
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, agent: Agent) -> AgentOut:
        return cls(
            id=agent.id,
            name=agent.name,
            type=agent.type,
            status=agent.status,
            config=AgentConfig.model_validate(agent.config),
            created_at=agent.created_at,
            updated_at=agent.updated_at,
        )


class UsageRow(BaseModel):
    """Spend over one group of model calls."""

    key: str
    calls: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_micros: int
    cost_minor: int


class UsageOut(BaseModel):
    """A tenant's language-model use over a period, with this month's budget."""

    since: date
    until: date
    currency: str
    total: UsageRow
    by_day: list[UsageRow]
    by_agent: list[UsageRow]
    by_model: list[UsageRow]
    budget_micros: int
    spent_this_month_micros: int
    offline_only: bool


__all__ = [
    "AgentConfig",
    "AgentCreate",
    "AgentName",
    "AgentOut",
    "AgentStatus",
    "AgentType",
    "AgentUpdate",
    "McpServerConfig",
    "UsageOut",
    "UsageRow",
]
