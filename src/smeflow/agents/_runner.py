"""The agents service: one turn of a tenant's agent (automator, mentor or supervisor).

Key contracts:

* ``offline`` agents, agents whose tenant (or own) budget for the month is spent, and turns that
  exhaust it midway answer with offline understanding (``mode: offline`` in the output, with the
  reason); nothing fails for want of a model.
* A provider the tenant's residency policy no longer allows is refused at the turn too
  (:class:`AgentUnavailable`), not only when the agent is configured.
* A supervisor picks the agent for the message's intent (offline understanding, so routing costs
  nothing) and runs it; with ``review_writes`` a person approves that agent's write tools (money
  tools always need one, whoever calls them).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import JsonValue
from sqlalchemy import and_, select

from smeflow.agents._cache import CacheHit, CacheKey, cache_key, cacheable, lookup, store
from smeflow.agents._embedding import embed_query
from smeflow.agents._ledger import Budget, Spend, agent_spent, month_of, price_of, record_call, tenant_limit
from smeflow.agents._llm import Answer, LlmTurn, run_llm_turn
from smeflow.agents._mcp_client import McpServer, McpToolError, mcp_tools
from smeflow.agents._offline import detect, offline_turn
from smeflow.agents._providers import ModelRef, build_chat_model, parse_model_ref
from smeflow.agents._redaction import Redactor
from smeflow.agents._tools import Toolbox
from smeflow.agents._turns import (
    AgentUnavailable,
    CredentialSource,
    ModelUnavailable,
    ToolRefused,
    TurnContext,
    TurnResult,
)
from smeflow.agents._usage import Usage, cost_micros
from smeflow.agents.models import Agent, LlmBudget
from smeflow.agents.schemas import AgentConfig
from smeflow.agents.service import allowed_providers
from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.settings import Settings
from smeflow.tenancy.models import Tenant

logger = logging.getLogger(__name__)

MAX_ROUTING_DEPTH = 2
LLM_CONFIDENCE = 0.9


@dataclass(frozen=True, slots=True)
class _Loaded:
    tenant: Tenant
    agent: Agent
    config: AgentConfig
    budget: Budget
    agent_spent: int


@dataclass(slots=True)
class _Spending:
    budget: Budget
    agent_spent: int


def conversation(given: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """The customer's message (``text`` or ``message``; else the input as JSON) and the earlier
    turns (``history``: a list of ``{"role": "customer"|"assistant", "text": ...}``)."""
    text = given.get("text", given.get("message"))
    if not isinstance(text, str) or not text.strip():
        text = orjson.dumps({k: v for k, v in given.items() if k != "history"}).decode()
    history: list[tuple[str, str]] = []
    for item in given.get("history") or []:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            role = "assistant" if item.get("role") in ("assistant", "agent", "business") else "user"
            history.append((role, item["text"]))
    return text.strip(), history[-20:]


class AgentService:
    """Runs tenants' agents. ``credentials`` opens a provider's key from the tenant's integration."""

    def __init__(self, db: Database, settings: Settings, credentials: CredentialSource) -> None:
        self.db = db
        self.settings = settings
        self.credentials = credentials

    async def _load(self, tenant_id: Any, name: str) -> _Loaded:
        """The agent, its tenant and this month's spend, in one query (by name; else by id)."""
        month = month_of(utcnow())
        query = (
            select(Tenant, Agent, LlmBudget.spent_micros)
            .join(Tenant, Tenant.id == Agent.tenant_id)
            .outerjoin(LlmBudget, and_(LlmBudget.tenant_id == Agent.tenant_id, LlmBudget.month == month))
            .where(Agent.tenant_id == tenant_id)
        )
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            row = (await session.execute(query.where(Agent.name == name))).first()
            if row is None:
                try:
                    row = (await session.execute(query.where(Agent.id == uuid.UUID(name)))).first()
                except ValueError:
                    row = None
            if row is None:
                raise AgentUnavailable(f"this tenant has no agent named {name!r}")
            tenant, agent, spent_this_month = row
            if agent.status != "active":
                raise AgentUnavailable(f"the agent {agent.name!r} is disabled")
            config = AgentConfig.model_validate(agent.config)
            spent = await agent_spent(session, tenant_id, agent.id) if config.budget_micros is not None else 0
            session.expunge_all()
        budget = Budget(tenant_limit(self.settings, tenant), int(spent_this_month or 0))
        return _Loaded(tenant, agent, config, budget, spent)

    async def turn(
        self,
        ctx: TurnContext,
        agent_name: str,
        *,
        instructions: str | None,
        given: dict[str, Any],
        language: str | None,
        review_writes: bool = False,
        depth: int = 0,
    ) -> TurnResult:
        """One answer of the tenant's agent ``agent_name`` to ``given`` (see :func:`conversation`)."""
        loaded = await self._load(ctx.tenant_id, agent_name)
        text, history = conversation(given)
        if loaded.agent.type == "supervisor":
            return await self._supervise(ctx, loaded, instructions, given, text, language, depth)
        try:
            ref = parse_model_ref(loaded.config.model)
        except ValueError as exc:
            raise AgentUnavailable(f"the agent {loaded.agent.name!r}: {exc}") from None
        if ref.provider == "offline":
            return offline_turn(
                text, loaded.tenant, loaded.agent, loaded.config, language, given, reason="configured"
            )
        if ref.provider not in allowed_providers(loaded.tenant):
            raise AgentUnavailable(
                f"the agent {loaded.agent.name!r} uses {ref.provider}, which the tenant's data residency "
                "policy no longer allows"
            )
        if self._spent(loaded):
            return offline_turn(
                text, loaded.tenant, loaded.agent, loaded.config, language, given, reason="budget"
            )
        return await self._llm(ctx, loaded, ref, instructions, given, text, history, language, review_writes)

    def _spent(self, loaded: _Loaded) -> bool:
        if loaded.budget.left == 0:
            return True
        limit = loaded.config.budget_micros
        return limit is not None and loaded.agent_spent >= limit

    async def _supervise(
        self,
        ctx: TurnContext,
        loaded: _Loaded,
        instructions: str | None,
        given: dict[str, Any],
        text: str,
        language: str | None,
        depth: int,
    ) -> TurnResult:
        routed = offline_turn(
            text, loaded.tenant, loaded.agent, loaded.config, language, given, reason="routing"
        )
        intent = routed.output.get("intent")
        target = loaded.config.routes.get(str(intent)) if intent else None
        target = target or loaded.config.default_route
        if (
            target is None
            or depth >= MAX_ROUTING_DEPTH
            or routed.confidence < loaded.config.confidence_threshold
        ):
            output = dict(routed.output) | {"routed_to": None, "escalate": True}
            return TurnResult(output, 0.0)
        result = await self.turn(
            ctx,
            target,
            instructions=instructions,
            given=given,
            language=language or str(routed.output.get("language") or "") or None,
            review_writes=loaded.config.review_writes,
            depth=depth + 1,
        )
        output = dict(result.output) | {
            "routed_to": target,
            "route_intent": intent,
            "supervisor": loaded.agent.name,
        }
        return TurnResult(
            output, result.confidence, result.cost_micros, result.model, result.tokens_in, result.tokens_out
        )

    async def _llm(
        self,
        ctx: TurnContext,
        loaded: _Loaded,
        ref: ModelRef,
        instructions: str | None,
        given: dict[str, Any],
        text: str,
        history: Sequence[tuple[str, str]],
        language: str | None,
        review_writes: bool,
    ) -> TurnResult:
        tenant, agent, config = loaded.tenant, loaded.agent, loaded.config
        language = language or detect(text, tenant, config)
        extra: dict[str, Any] = {"max_tokens": config.max_output_tokens}
        if config.temperature is not None:
            extra["temperature"] = config.temperature
        built: list[Any] = []

        async def chat() -> Any:
            # the key is opened (and the client built) only when the model is to be asked
            if not built:
                creds = await self.credentials(tenant.id, ref.provider, config.integration)
                built.append(
                    build_chat_model(
                        ref,
                        api_key=creds.api_key,
                        base_url=creds.base_url,
                        http_client=ctx.http,
                        timeout=self.settings.llm_timeout_seconds,
                        **extra,
                    )
                )
            return built[0]

        toolbox = ctx.toolbox_for(tuple(config.tools), review_writes)
        system = _system_prompt(tenant, config, instructions, language)
        pii_allowed = bool((tenant.residency or {}).get("pii_to_llm", False))
        redactor = None if pii_allowed else Redactor(region=tenant.country)
        state = _Spending(loaded.budget, loaded.agent_spent)
        price = price_of(self.settings, ref.provider, ref.model)
        if price is None:
            logger.warning("no price for %s in llm_prices: its calls are recorded at cost 0", ref.key)
        embedding: list[list[float]] = []

        def question_embedding() -> list[float]:
            if not embedding:
                embedding.append(embed_query(text))
            return embedding[0]

        async def spend(item: Spend) -> bool:
            async with self.db.transaction(DbScope.tenant(tenant.id)) as session:
                budget = await record_call(
                    session,
                    self.settings,
                    tenant,
                    item,
                    agent_name=agent.name,
                    agent_id=agent.id,
                    run_id=ctx.run_id,
                    node_id=ctx.node_id,
                )
            if budget is not None:
                state.budget = budget
            state.agent_spent += item.cost_micros
            return await can_spend()

        async def can_spend() -> bool:
            return not self._spent(_Loaded(tenant, agent, config, state.budget, state.agent_spent))

        def key_for(tools: list[dict[str, Any]]) -> CacheKey:
            shown = redactor.redact(text) if redactor is not None else text
            past = [(r, redactor.redact(c) if redactor is not None else c) for r, c in history]
            return cache_key(f"{ref.provider}:{ref.model}", system, past, shown, tools, language or "und")

        async def cached(key: CacheKey) -> CacheHit | None:
            # the lookup and, on a hit, its ledger row (cost 0) in one transaction
            async with self.db.transaction(DbScope.tenant(tenant.id)) as session:
                hit = await lookup(
                    session,
                    tenant.id,
                    key,
                    embed=question_embedding,
                    threshold=self.settings.llm_semantic_cache_threshold,
                )
                if hit is not None:
                    await record_call(
                        session,
                        self.settings,
                        tenant,
                        Spend(ref.provider, ref.model, hit.kind),
                        agent_name=agent.name,
                        agent_id=agent.id,
                        run_id=ctx.run_id,
                        node_id=ctx.node_id,
                    )
                return hit

        async def remember(key: CacheKey, answer: Answer) -> None:
            # Only final answers may be reused for a *similar* question; a tool call only for the same one.
            vector = question_embedding() if not answer.tool_calls else None
            async with self.db.transaction(DbScope.tenant(tenant.id)) as session:
                await store(
                    session,
                    tenant.id,
                    key,
                    answer.to_json(),
                    embedding=vector,
                    ttl_seconds=self.settings.llm_cache_ttl_seconds,
                )

        use_cache = (
            config.cache
            and not history
            and cacheable(text, language=language, timezone=tenant.timezone, now=utcnow())
        )
        turn = LlmTurn(
            chat=chat,
            provider=ref.provider,
            model=ref.model,
            system=system,
            history=history,
            question=text,
            language=language or "und",
            toolbox=toolbox,
            journal=ctx.journal,
            key=ctx.key,
            max_rounds=config.max_tool_rounds,
            redactor=redactor,
            cached=cached if use_cache else None,
            remember=remember if use_cache else None,
            cache_key=key_for if use_cache else None,
            spend=spend,
            price=lambda i, o, c: cost_micros(Usage(i, o, c), price),
        )
        async with AsyncExitStack() as stack:
            if config.mcp_servers:
                outside = await stack.enter_async_context(_mcp(config, ctx))
                turn.toolbox = toolbox.merged(outside)
            outcome = await run_llm_turn(turn, can_spend)
        tokens_in, tokens_out = outcome.tokens
        model_name = f"{ref.provider}:{ref.model}"
        if outcome.budget_exhausted:
            fallback = offline_turn(text, tenant, agent, config, language, given, reason="budget")
            shown = dict(fallback.output) | {"tools": list(outcome.tools_called)}
            return TurnResult(
                shown, fallback.confidence, outcome.cost_micros, model_name, tokens_in, tokens_out
            )
        output: dict[str, Any] = {
            "reply": outcome.reply,
            "language": language,
            "mode": "cache" if outcome.from_cache else "llm",
            "model": model_name,
            "escalate": outcome.escalate,
            "reason": outcome.reason,
            "tools": list(outcome.tools_called),
        }
        confidence = 0.0 if outcome.escalate else LLM_CONFIDENCE
        return TurnResult(output, confidence, outcome.cost_micros, model_name, tokens_in, tokens_out)


@asynccontextmanager
async def _mcp(config: AgentConfig, ctx: TurnContext) -> AsyncIterator[Toolbox]:
    """The tools of the agent's MCP servers, their write calls journaled like the engine's."""
    servers = [McpServer(name=s.name, url=s.url, tools=s.tools, effect=s.effect) for s in config.mcp_servers]
    try:
        async with mcp_tools(servers) as found:
            effects = {spec.name: spec.effect for spec in found.specs}

            async def call(name: str, arguments: dict[str, Any], call_id: str) -> JsonValue:
                key = f"{ctx.key}:mcp:{call_id}"
                journaled = effects.get(name) != "read"
                if journaled and (done := await ctx.journal.get(key)) is not None:
                    return done  # type: ignore[no-any-return]
                try:
                    result = await found.call(name, arguments, call_id)
                except McpToolError as exc:
                    raise ToolRefused(exc.message) from None
                if journaled:
                    await ctx.journal.put(key, result)
                return result

            yield Toolbox(found.specs, call)
    except McpToolError as exc:
        raise ModelUnavailable(f"an MCP server of the agent could not be used: {exc.message}") from None


def _system_prompt(
    tenant: Tenant, config: AgentConfig, instructions: str | None, language: str | None
) -> str:
    from smeflow.i18n import language_name

    parts = [config.instructions.strip()] if config.instructions.strip() else []
    if instructions:
        parts.append(instructions.strip())
    parts.append(
        f"You work for {tenant.name}. Customers write on phones: answer briefly and politely. "
        + (f"Reply in {language_name(language)}." if language else "Reply in the customer's language.")
        + " If you are not sure, or the customer wants a person, call handoff_to_human."
    )
    return "\n\n".join(parts)


__all__ = ["AgentService", "conversation"]
