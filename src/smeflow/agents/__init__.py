"""SMEFlow's agents: automators (do tasks with tools), mentors (advise, no side effects) and
supervisors (route between agents, have writes reviewed), answering through a language model
(OpenAI, Anthropic, Gemini, any OpenAI-compatible server) or, with no key, no budget left or by
choice, through offline understanding. With the model response cache, the cost ledger and monthly
budgets per tenant.

Key contracts: see :mod:`._runner` (turns), :mod:`._llm` (journal, tools, redaction),
:mod:`._cache` (never shared across tenants), :mod:`._ledger` (every answer costed).
"""

from smeflow.agents._cache import invalidate as invalidate_cache
from smeflow.agents._ledger import LEDGER_ACTOR, Spend, in_currency, record_call, tenant_budget, usage
from smeflow.agents._runner import AgentService, conversation
from smeflow.agents._tools import Effect, Toolbox, ToolCall, ToolSpec, llm_name, toolbox
from smeflow.agents._turns import (
    AgentUnavailable,
    Credentials,
    CredentialSource,
    Journal,
    MemoryJournal,
    ToolboxFactory,
    ToolRefused,
    TurnContext,
    TurnResult,
)

__all__ = [
    "LEDGER_ACTOR",
    "AgentService",
    "AgentUnavailable",
    "CredentialSource",
    "Credentials",
    "Effect",
    "Journal",
    "MemoryJournal",
    "Spend",
    "ToolCall",
    "ToolRefused",
    "ToolSpec",
    "Toolbox",
    "ToolboxFactory",
    "TurnContext",
    "TurnResult",
    "conversation",
    "in_currency",
    "invalidate_cache",
    "llm_name",
    "record_call",
    "tenant_budget",
    "toolbox",
    "usage",
]
