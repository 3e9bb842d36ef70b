"""What an agent's turn receives from, and gives back to, whoever runs it (the engine's agent step,
MCP, a test): the context, the journal it replays from, and the result."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from pydantic import JsonValue

from smeflow.agents._tools import Toolbox
from smeflow.errors import SMEFlowError


class Journal(Protocol):
    """Results already obtained in this step (kept by the engine per run), so a step executed
    again after a pause or a crash replays them instead of asking (and paying) again."""

    async def get(self, key: str) -> Any | None: ...

    async def put(self, key: str, value: Any) -> None: ...


class MemoryJournal:
    """A journal kept in memory (a turn outside a workflow run)."""

    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}

    async def get(self, key: str) -> Any | None:
        return self.entries.get(key)

    async def put(self, key: str, value: Any) -> None:
        self.entries.setdefault(key, value)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a provider needs to be called for a tenant (from its integration, in the vault)."""

    api_key: str | None
    base_url: str | None = None
    region: str | None = None


#: ``(tenant_id, provider, integration name or id or None) -> Credentials``
CredentialSource = Callable[[uuid.UUID, str, str | None], Awaitable[Credentials]]
#: ``(tool names, review_writes) -> Toolbox`` for the agent's declared tools
ToolboxFactory = Callable[[tuple[str, ...], bool], Toolbox]


@dataclass(frozen=True, slots=True)
class TurnContext:
    """Where a turn runs: whose run and step, its idempotency key (the base of every key the turn
    journals under), the tools and the journal, an HTTP client."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID | None
    node_id: str | None
    key: str
    http: httpx.AsyncClient
    journal: Journal = field(default_factory=MemoryJournal)
    toolbox_for: ToolboxFactory = field(default=lambda names, review: Toolbox())


@dataclass(frozen=True, slots=True)
class TurnResult:
    """The agent's answer (``output`` is JSON), how sure it is, and what it cost."""

    output: dict[str, JsonValue]
    confidence: float
    cost_micros: int = 0
    model: str = "offline"
    tokens_in: int = 0
    tokens_out: int = 0


class AgentUnavailable(SMEFlowError):
    """The agent cannot answer: it does not exist, is disabled, or its provider cannot be used."""

    code = "agent_unavailable"
    title = "The agent cannot answer"
    status = 409


class ModelUnavailable(SMEFlowError):
    """The provider did not answer (timeout, rate limit, server error): the step is retried."""

    code = "model_unavailable"
    title = "The language model did not answer"
    status = 503
    retryable = True


class ToolRefused(SMEFlowError):
    """A tool call that did not run (rejected by a person, bad arguments, the provider said no):
    the model is told why and may go on."""

    code = "tool_refused"
    title = "The tool call did not run"
    status = 409


__all__ = [
    "AgentUnavailable",
    "CredentialSource",
    "Credentials",
    "Journal",
    "MemoryJournal",
    "ModelUnavailable",
    "ToolRefused",
    "ToolboxFactory",
    "TurnContext",
    "TurnResult",
]
