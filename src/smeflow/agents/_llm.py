"""An agent's turn through a language model: the prompt, the cache, the tool loop, the ledger.

Key contracts:

* Each model answer is journaled (``<step key>:llm:<n>``) before its tool calls run, so a step
  executed again (after a person approved a money tool, or after a crash) replays the answers and
  asks the provider nothing twice; replayed answers cost nothing again.
* Each answer not replayed is one ledger row, with the tokens the provider reported; a cache hit
  is a row of cost 0.
* Personal data is redacted before the prompt leaves (unless the tenant's policy allows it) and
  restored in tool arguments and in the reply.
* The model may call ``handoff_to_human`` to say it is not sure: the turn ends with confidence 0
  and the engine asks a person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import JsonValue

from smeflow.agents._cache import CacheHit, CacheKey
from smeflow.agents._ledger import Spend
from smeflow.agents._redaction import Redactor
from smeflow.agents._tools import Toolbox
from smeflow.agents._turns import AgentUnavailable, Journal, ModelUnavailable, ToolRefused

logger = logging.getLogger(__name__)

HANDOFF_TOOL = "handoff_to_human"
_HANDOFF_SPEC = {
    "type": "function",
    "function": {
        "name": HANDOFF_TOOL,
        "description": "Hand the conversation to a person of the business when you are not sure, "
        "when the customer asks for a person, or when the request is outside what you may do.",
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "why, in a few words"}},
            "required": ["reason"],
        },
    },
}


def tool_definitions(toolbox: Toolbox) -> list[dict[str, Any]]:
    """The toolbox as OpenAI-style function definitions (LangChain's ``bind_tools`` takes them
    for every provider), with ``handoff_to_human`` last."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": spec.llm_name,
                "description": spec.description[:1000],
                "parameters": spec.input_schema,
            },
        }
        for spec in toolbox.specs
    ]
    return [*tools, _HANDOFF_SPEC]


@dataclass(frozen=True, slots=True)
class Answer:
    """One model answer as journaled and cached: text, tool calls, what it used."""

    content: str
    tool_calls: tuple[dict[str, Any], ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_micros: int = 0
    source: str = "model"

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "tool_calls": list(self.tool_calls),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cost_micros": self.cost_micros,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str | None = None) -> Answer:
        return cls(
            content=str(data.get("content") or ""),
            tool_calls=tuple(data.get("tool_calls") or ()),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            cached_tokens=int(data.get("cached_tokens", 0)),
            cost_micros=int(data.get("cost_micros", 0)),
            source=source or str(data.get("source", "model")),
        )


@dataclass(slots=True)
class LlmTurn:
    """Everything one model turn needs; the callables are the runner's (database, ledger)."""

    #: the LangChain chat model, built on first use (a turn answered from the cache opens no key)
    chat: Callable[[], Awaitable[Any]]
    provider: str
    model: str
    system: str
    history: Sequence[tuple[str, str]]
    question: str
    language: str
    toolbox: Toolbox
    journal: Journal
    key: str
    max_rounds: int
    redactor: Redactor | None
    #: cache lookup for the first answer (``None``: no cache); a hit is in the ledger already
    cached: Callable[[CacheKey], Awaitable[CacheHit | None]] | None
    remember: Callable[[CacheKey, Answer], Awaitable[None]] | None
    cache_key: Callable[[list[dict[str, Any]]], CacheKey] | None
    #: records a spend in the ledger; returns False when the budget is now exhausted
    spend: Callable[[Spend], Awaitable[bool]]
    price: Callable[[int, int, int], int]
    record_tool: Callable[[str, dict[str, Any], JsonValue, str | None], Awaitable[None]] | None = None
    tools_called: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LlmOutcome:
    reply: str
    escalate: bool
    reason: str | None
    answers: tuple[Answer, ...]
    tools_called: tuple[dict[str, Any], ...]
    budget_exhausted: bool = False

    @property
    def cost_micros(self) -> int:
        return sum(a.cost_micros for a in self.answers)

    @property
    def tokens(self) -> tuple[int, int]:
        return sum(a.input_tokens for a in self.answers), sum(a.output_tokens for a in self.answers)

    @property
    def from_cache(self) -> bool:
        return bool(self.answers) and all(a.source != "model" for a in self.answers)


def _hide(turn: LlmTurn, text: str) -> str:
    return turn.redactor.redact(text) if turn.redactor is not None else text


def _show(turn: LlmTurn, value: Any) -> Any:
    return turn.redactor.restore(value) if turn.redactor is not None else value


async def _ask_model(turn: LlmTurn, messages: list[Any], tools: list[dict[str, Any]]) -> Answer:
    from langchain_core.messages import AIMessage

    from smeflow.agents._usage import usage_of

    model = await turn.chat()
    bound = model.bind_tools(tools) if tools else model
    started = time.perf_counter()
    try:
        message = await bound.ainvoke(messages)
    except Exception as exc:
        raise _provider_error(turn, exc) from None
    latency_ms = int((time.perf_counter() - started) * 1000)
    assert isinstance(message, AIMessage)
    usage = usage_of(message)
    cost = turn.price(usage.input_tokens, usage.output_tokens, usage.cached_tokens)
    content = message.content if isinstance(message.content, str) else _text_of(message.content)
    answer = Answer(
        content=content,
        tool_calls=tuple({"id": c["id"], "name": c["name"], "args": c["args"]} for c in message.tool_calls),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
        cost_micros=cost,
    )
    await turn.spend(
        Spend(
            turn.provider,
            turn.model,
            "model",
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_tokens,
            latency_ms,
            cost,
        )
    )
    return answer


def _provider_error(turn: LlmTurn, exc: Exception) -> Exception:
    """The provider's failure as SMEFlow's: retried when it may pass (timeouts, 408, 409, 429,
    5xx), a readable refusal otherwise (a wrong key, an unknown model). Nothing it says is echoed
    beyond its status: an SDK's message can quote the request."""
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    where = f"{turn.provider}:{turn.model}"
    logger.warning("model call to %s failed: %s", where, type(exc).__name__)
    if status is None or status in (408, 409, 429) or int(status) >= 500:
        detail = f"answered {status}" if status else f"did not answer ({type(exc).__name__})"
        return ModelUnavailable(f"the language model {where} {detail}; the step is retried")
    if status in (401, 403):
        return AgentUnavailable(f"the provider refused the key of the integration for {where} ({status})")
    return AgentUnavailable(f"the language model {where} refused the request ({status})")


def _text_of(content: list[Any]) -> str:
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts)


def _messages(turn: LlmTurn) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    messages: list[Any] = [SystemMessage(turn.system)] if turn.system else []
    for role, content in turn.history:
        text = _hide(turn, content)
        messages.append(AIMessage(text) if role == "assistant" else HumanMessage(text))
    messages.append(HumanMessage(_hide(turn, turn.question)))
    return messages


async def _first_from_cache(
    turn: LlmTurn, tools: list[dict[str, Any]]
) -> tuple[CacheKey, Answer | None] | None:
    """The cache's answer to the first question (with its key, to store the model's otherwise);
    ``None`` when the turn does not use the cache."""
    if turn.cached is None or turn.cache_key is None:
        return None
    key = turn.cache_key(tools)
    hit = await turn.cached(key)
    if hit is None:
        return key, None
    cached = Answer.from_json(hit.response)
    return key, Answer(cached.content, cached.tool_calls, source=hit.kind)


async def run_llm_turn(turn: LlmTurn, can_spend: Callable[[], Awaitable[bool]]) -> LlmOutcome:
    """Ask the model, run the tools it calls, until it answers or the rounds run out."""
    from langchain_core.messages import AIMessage, ToolMessage

    tools = tool_definitions(turn.toolbox)
    messages = _messages(turn)
    answers: list[Answer] = []
    for round_ in range(turn.max_rounds + 1):
        key = f"{turn.key}:llm:{round_}"
        kept = await turn.journal.get(key)
        if kept is not None:
            # replayed: asked before this execution; its cost counts once, in the step's reply
            answer = Answer.from_json(kept)
        else:
            found = await _first_from_cache(turn, tools) if round_ == 0 else None
            if found is not None and found[1] is not None:
                answer = found[1]
            else:
                if not await can_spend():
                    return LlmOutcome("", False, "budget", tuple(answers), tuple(turn.tools_called), True)
                answer = await _ask_model(turn, messages, tools)
                if found is not None and turn.remember is not None:
                    await turn.remember(found[0], answer)
            await turn.journal.put(key, answer.to_json())
        answers.append(answer)
        messages.append(
            AIMessage(
                answer.content,
                tool_calls=[
                    {"id": c["id"], "name": c["name"], "args": c["args"], "type": "tool_call"}
                    for c in answer.tool_calls
                ],
            )
        )
        if not answer.tool_calls:
            return LlmOutcome(
                _show(turn, answer.content), False, None, tuple(answers), tuple(turn.tools_called)
            )
        for j, call in enumerate(answer.tool_calls):
            if call["name"] == HANDOFF_TOOL:
                reason = str((call.get("args") or {}).get("reason") or "the model asked for a person")
                return LlmOutcome(
                    _show(turn, answer.content), True, reason, tuple(answers), tuple(turn.tools_called)
                )
            result = await _call_tool(turn, call, f"{round_}.{j}")
            content = orjson.dumps(result).decode() if not isinstance(result, str) else result
            messages.append(ToolMessage(_hide(turn, content), tool_call_id=call["id"]))
    last = answers[-1].content if answers else ""
    return LlmOutcome(
        _show(turn, last),
        True,
        "the model used every tool round without answering",
        tuple(answers),
        tuple(turn.tools_called),
    )


async def _call_tool(turn: LlmTurn, call: dict[str, Any], call_id: str) -> JsonValue:
    spec = turn.toolbox.by_llm_name(call["name"])
    args = _show(turn, call.get("args") or {})
    if spec is None:
        result: JsonValue = {"error": f"there is no tool named {call['name']!r}"}
        turn.tools_called.append({"tool": call["name"], "status": "unknown"})
        return result
    try:
        result = await turn.toolbox.call(spec.name, args, call_id)
        turn.tools_called.append({"tool": spec.name, "status": "done"})
    except ToolRefused as exc:
        result = {"error": exc.message}
        turn.tools_called.append({"tool": spec.name, "status": "refused", "reason": exc.message})
    return result


__all__ = ["HANDOFF_TOOL", "Answer", "LlmOutcome", "LlmTurn", "run_llm_turn", "tool_definitions"]
