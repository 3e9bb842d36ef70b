"""Agents: what an ``agent`` step asks to do a task. An agent has a name and an async ``run``
that turns an :class:`AgentRequest` (the step's instructions and resolved input) into an
:class:`AgentReply` (a JSON output, how sure it is, what it cost). The agents work (LLMs, the
offline understanding layer) implements :class:`Agent`; the runtime ships :class:`RulesAgent`,
deterministic and free, the default when no LLM is configured.

The runtime journals every reply (idempotency key run + node), so a re-executed run reuses the
reply instead of asking (and paying) again; see :mod:`smeflow.engine.runtime._compiler`.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from smeflow.agents import Journal, MemoryJournal, Toolbox, ToolboxFactory
from smeflow.engine.runtime._errors import StepFailed


def _no_tools(names: tuple[str, ...], review_writes: bool) -> Toolbox:
    return Toolbox()


@dataclass(frozen=True, slots=True)
class AgentCall:
    """Where the agent is called from: whose run, which step, its idempotency key (for a provider
    that deduplicates), an HTTP client; the step's journal (results the agent obtained in an
    earlier execution of this step) and its tools (by name, see :mod:`._agent_tools`)."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    node_id: str
    idempotency_key: str
    http: httpx.AsyncClient
    journal: Journal = field(default_factory=MemoryJournal)
    toolbox_for: ToolboxFactory = _no_tools


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """The task: the step's instructions and input (its ``=`` expressions already evaluated), the
    run it belongs to, and the language of the conversation if known."""

    instructions: str | None
    input: dict[str, Any]
    tenant_id: uuid.UUID
    run_id: uuid.UUID
    language: str | None = None
    agent_name: str | None = None


@dataclass(frozen=True, slots=True)
class AgentReply:
    """The agent's answer: a JSON ``output``, its ``confidence`` (0 to 1), what it cost in
    millionths of a US dollar (``cost_micros``), the model that answered and the tokens used."""

    output: JsonValue
    confidence: float
    cost_micros: int = 0
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0

    def problem(self) -> str | None:
        """What is wrong with this reply (``None``: nothing)."""
        if not isinstance(self.confidence, (int, float)) or isinstance(self.confidence, bool):
            return "its confidence is not a number"
        if not (math.isfinite(self.confidence) and 0 <= self.confidence <= 1):
            return f"its confidence {self.confidence!r} is not between 0 and 1"
        for name in ("cost_micros", "tokens_in", "tokens_out"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                return f"its {name} {value!r} is not a whole number of 0 or more"
        return None

    def to_json(self) -> dict[str, Any]:
        """The reply as journaled (and shown in the run's timeline)."""
        return {
            "output": self.output,
            "confidence": self.confidence,
            "cost_micros": self.cost_micros,
            "model": self.model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentReply:
        """A journaled reply."""
        return cls(
            output=data.get("output"),
            confidence=float(data.get("confidence", 0.0)),
            cost_micros=int(data.get("cost_micros", 0)),
            model=str(data.get("model", "")),
            tokens_in=int(data.get("tokens_in", 0)),
            tokens_out=int(data.get("tokens_out", 0)),
        )


class Agent(Protocol):
    """An agent a workflow can name: ``name`` and an async ``run``. Raise :class:`StepFailed` (or
    :class:`TransientStepError`, retried by the step's policy) with a readable reason."""

    @property
    def name(self) -> str: ...

    async def run(self, call: AgentCall, request: AgentRequest) -> AgentReply: ...


class AgentRegistry:
    """Agents by name: the built-in ones, then (``tenants``, if given) the agent that answers for
    any other name with the tenant's agent of that name."""

    def __init__(self, agents: Iterable[Agent] = (), *, tenants: Agent | None = None) -> None:
        self._agents: dict[str, Agent] = {}
        self.tenants = tenants
        for agent in agents:
            self.register(agent)

    def register(self, agent: Agent) -> None:
        if agent.name in self._agents:
            raise ValueError(f"an agent named {agent.name!r} is already registered")
        self._agents[agent.name] = agent

    def get(self, name: str) -> Agent | None:
        return self._agents.get(name) or self.tenants

    def names(self) -> list[str]:
        return sorted(self._agents)


class _RulesInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=10_000, description="the text to answer, such as the customer's message")
    rules: dict[str, JsonValue] = Field(
        min_length=1, max_length=500, description="keyword or phrase → the reply when it appears in the text"
    )
    default: JsonValue = Field(None, description="the reply when no keyword appears (confidence 0)")


class RulesAgent:
    """``rules``: answers from a keyword → reply table given in the step's input (``text``,
    ``rules``, optional ``default``). A keyword matches as whole words, ignoring case; when several
    appear, the one found first in the text wins (then the longest, then the first in alphabetical
    order), so the answer never depends on the table's order. Output ``{"reply", "keyword"}``;
    confidence 1 on a match, 0 otherwise (``keyword`` is then null and ``reply`` the default).
    Deterministic, offline and free."""

    @property
    def name(self) -> str:
        return "rules"

    async def run(self, call: AgentCall, request: AgentRequest) -> AgentReply:
        try:
            data = _RulesInput.model_validate(request.input)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "input"
            raise StepFailed(f"the input {where!r} of the rules agent is not valid: {first['msg']}") from None
        found: list[tuple[int, int, str]] = []
        text = data.text.casefold()
        for keyword in data.rules:
            words = keyword.strip().casefold()
            if not words:
                continue
            match = re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text)
            if match is not None:
                found.append((match.start(), -len(words), keyword))
        if not found:
            return AgentReply({"reply": data.default, "keyword": None}, 0.0, model="rules")
        keyword = min(found)[2]
        return AgentReply({"reply": data.rules[keyword], "keyword": keyword}, 1.0, model="rules")


def default_agents() -> AgentRegistry:
    """The built-in agents: ``rules``."""
    return AgentRegistry([RulesAgent()])


__all__ = [
    "Agent",
    "AgentCall",
    "AgentRegistry",
    "AgentReply",
    "AgentRequest",
    "RulesAgent",
    "default_agents",
]
