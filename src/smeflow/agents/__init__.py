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
from smeflow.agents._mcp_client import McpServer, McpToolError, mcp_toolbox, mcp_tools
from smeflow.agents._providers import (
    DEFAULT_BASE_URLS,
    NO_KEY,
    OFFLINE,
    PROVIDERS,
    ModelRef,
    Provider,
    build_chat_model,
    parse_model_ref,
)
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
from smeflow.agents._usage import Usage, cost_micros, usage_of

__all__ = [
    "DEFAULT_BASE_URLS",
    "LEDGER_ACTOR",
    "NO_KEY",
    "OFFLINE",
    "PROVIDERS",
    "AgentService",
    "AgentUnavailable",
    "CredentialSource",
    "Credentials",
    "Effect",
    "Journal",
    "McpServer",
    "McpToolError",
    "MemoryJournal",
    "ModelRef",
    "Provider",
    "Spend",
    "ToolCall",
    "ToolRefused",
    "ToolSpec",
    "Toolbox",
    "ToolboxFactory",
    "TurnContext",
    "TurnResult",
    "Usage",
    "build_chat_model",
    "conversation",
    "cost_micros",
    "in_currency",
    "invalidate_cache",
    "llm_name",
    "mcp_toolbox",
    "mcp_tools",
    "parse_model_ref",
    "record_call",
    "tenant_budget",
    "toolbox",
    "usage",
    "usage_of",
]
