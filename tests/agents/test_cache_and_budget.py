"""The model response cache and the monthly budget, through the real OpenAI client and the LLM
sandbox: two tenants asking the same question never share an answer; a repeated or reworded
question is answered from the tenant's own cache at no cost; a replayed trace with repeats costs
less by exactly the hits; a spent budget switches the agents to offline understanding, audited."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from smeflow.agents import AgentService, TurnContext, TurnResult, in_currency, invalidate_cache
from smeflow.agents import usage as usage_report
from smeflow.agents.models import LlmCall
from smeflow.audit.models import AuditEvent
from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.runtime import Runtime
from smeflow.settings import LlmPrice, Settings
from smeflow.tenancy.models import Tenant

from .llm_world import (
    MODEL,
    add_agent,
    allow_llm,
    connect_llm,
    llm_sandbox,
    new_key,
    requests_of,
    script,
    with_prices,
)

QUESTION = "What time do you open?"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    yield from llm_sandbox()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def runtime_of(db: Database, settings: Settings, http: httpx.AsyncClient) -> Runtime:
    return Runtime(db, settings=settings, http=http)


def service_of(runtime: Runtime) -> AgentService:
    service = getattr(runtime.agents.tenants, "service", None)
    assert isinstance(service, AgentService)
    return service


async def ask(service: AgentService, http: httpx.AsyncClient, tenant: uuid.UUID, text: str) -> TurnResult:
    ctx = TurnContext(tenant, None, None, f"test:{uuid.uuid4()}", http)
    return await service.turn(ctx, "Helper", instructions=None, given={"text": text}, language="en")


async def ledger(db: Database, tenant: uuid.UUID) -> list[LlmCall]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        rows = await session.scalars(select(LlmCall).where(LlmCall.tenant_id == tenant).order_by(LlmCall.at))
        return list(rows.all())


async def ready(
    db: Database, settings: Settings, runtime: Runtime, tenant: uuid.UUID, sandbox: str, **config: Any
) -> str:
    key = new_key()
    await allow_llm(db, tenant)
    await connect_llm(db, settings, runtime, tenant, sandbox, key)
    await add_agent(db, runtime, tenant, "Helper", "mentor", **config)
    return key


async def test_tenants_never_share_answers_and_repeats_cost_nothing(
    db: Database,
    settings: Settings,
    http: httpx.AsyncClient,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    sandbox: str,
) -> None:
    settings = with_prices(settings)
    runtime = runtime_of(db, settings, http)
    service = service_of(runtime)
    key_a = await ready(db, settings, runtime, tenant_a, sandbox)
    key_b = await ready(db, settings, runtime, tenant_b, sandbox)
    script(
        sandbox,
        key_a,
        {"content": "We open at 8 in Westlands.", "usage": {"prompt_tokens": 90, "completion_tokens": 9}},
    )
    script(
        sandbox,
        key_b,
        {"content": "We open at 9 in Ikeja.", "usage": {"prompt_tokens": 90, "completion_tokens": 8}},
    )

    first_a = await ask(service, http, tenant_a, QUESTION)
    first_b = await ask(service, http, tenant_b, QUESTION)
    assert (first_a.output["reply"], first_a.output["mode"]) == ("We open at 8 in Westlands.", "llm")
    assert (first_b.output["reply"], first_b.output["mode"]) == ("We open at 9 in Ikeja.", "llm")

    again_a = await ask(service, http, tenant_a, "  what time do you OPEN ")
    similar_a = await ask(service, http, tenant_a, "Please, what time do you open?")
    again_b = await ask(service, http, tenant_b, QUESTION)
    assert [r.output["reply"] for r in (again_a, similar_a)] == ["We open at 8 in Westlands."] * 2
    assert again_b.output["reply"] == "We open at 9 in Ikeja."
    assert [r.output["mode"] for r in (again_a, similar_a, again_b)] == ["cache"] * 3
    assert [r.cost_micros for r in (again_a, similar_a, again_b)] == [0, 0, 0]
    assert len(requests_of(sandbox, key_a)) == 1
    assert len(requests_of(sandbox, key_b)) == 1

    rows = await ledger(db, tenant_a)
    assert [r.source for r in rows] == ["model", "cache_exact", "cache_semantic"]
    assert [r.cost_micros > 0 for r in rows] == [True, False, False]
    assert {r.tenant_id for r in rows} == {tenant_a}

    # a different question misses; so does the same one once the tenant's knowledge changed
    script(sandbox, key_a, {"content": "Yes, we sell wigs."}, {"content": "We now open at 7."})
    other = await ask(service, http, tenant_a, "Do you sell wigs?")
    assert (other.output["reply"], other.output["mode"]) == ("Yes, we sell wigs.", "llm")
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert await invalidate_cache(session, tenant_a) == 2
    fresh = await ask(service, http, tenant_a, QUESTION)
    assert (fresh.output["reply"], fresh.output["mode"]) == ("We now open at 7.", "llm")
    assert (await ask(service, http, tenant_b, QUESTION)).output["mode"] == "cache"


async def test_a_replayed_trace_costs_less_by_exactly_its_hits(
    db: Database,
    settings: Settings,
    http: httpx.AsyncClient,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    sandbox: str,
) -> None:
    settings = with_prices(settings)
    runtime = runtime_of(db, settings, http)
    service = service_of(runtime)
    cached_key = await ready(db, settings, runtime, tenant_a, sandbox)
    plain_key = await ready(db, settings, runtime, tenant_b, sandbox, cache=False)
    trace = [
        QUESTION,
        "How much are braids?",
        QUESTION,
        "Please, what time do you open?",
        "How much are braids?",
        "Do you do nails?",
        QUESTION,
        "How much are box braids?",
    ]
    usage = {"prompt_tokens": 120, "completion_tokens": 20}
    for key in (cached_key, plain_key):
        script(sandbox, key, *({"content": f"answer {i}", "usage": usage} for i in range(len(trace))))
    for text in trace:
        await ask(service, http, tenant_a, text)
        await ask(service, http, tenant_b, text)
    with_cache = sum(r.cost_micros for r in await ledger(db, tenant_a))
    without = sum(r.cost_micros for r in await ledger(db, tenant_b))
    distinct = 4  # opening hours (three wordings), braids, nails, box braids (close, not the same)
    assert len(requests_of(sandbox, cached_key)) == distinct
    assert len(requests_of(sandbox, plain_key)) == len(trace)
    per_call = without // len(trace)
    assert with_cache == distinct * per_call
    reduction = 1 - with_cache / without
    assert reduction == pytest.approx(1 - distinct / len(trace))
    # GET /api/v1/usage's totals: by day, agent and model, hits counted, in USD and the tenant's currency
    today = utcnow().date()
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        tenant = await session.get(Tenant, tenant_a)
        assert tenant is not None
        report = await usage_report(session, settings, tenant, today, today)
    assert (report.total.calls, report.total.cache_hits) == (len(trace), len(trace) - distinct)
    assert report.total.input_tokens == distinct * 120
    assert report.total.cost_micros == with_cache
    assert (
        report.total.cost_minor == distinct * in_currency(settings, per_call, "KES")[0]
    )  # rounded up per call
    assert [(r.key, r.calls) for r in report.by_agent] == [("Helper", len(trace))]
    assert [(r.key, r.calls) for r in report.by_model] == [(f"openai_compatible:{MODEL}", len(trace))]
    assert [(r.key, r.cost_micros) for r in report.by_day] == [(today.isoformat(), with_cache)]
    assert (report.currency, report.spent_this_month_micros) == ("KES", with_cache)


async def test_a_spent_budget_switches_to_offline_and_is_audited(
    db: Database, settings: Settings, http: httpx.AsyncClient, tenant_a: uuid.UUID, sandbox: str
) -> None:
    # the free tier allows 2,000,000 micro-dollars a month; one answer here costs 1,800,000 (90 %)
    price = LlmPrice(input_per_million=10_000_000_000, output_per_million=0)
    settings = settings.model_copy(update={"llm_prices": {f"openai_compatible:{MODEL}": price}})
    runtime = runtime_of(db, settings, http)
    service = service_of(runtime)
    key = await ready(db, settings, runtime, tenant_a, sandbox, cache=False)
    script(
        sandbox,
        key,
        {"content": "We open at 8.", "usage": {"prompt_tokens": 180, "completion_tokens": 5}},
        {"content": "Braids are KES 2,500.", "usage": {"prompt_tokens": 180, "completion_tokens": 5}},
        {"content": "never asked"},
    )
    first = await ask(service, http, tenant_a, QUESTION)
    assert first.output["mode"] == "llm"
    second = await ask(service, http, tenant_a, "How much are braids?")
    assert second.output["mode"] == "llm"  # asked while 10 % was left; it took the month past the limit
    third = await ask(service, http, tenant_a, "Habari, nataka kupanga miadi kesho")
    assert (third.output["mode"], third.output["reason"]) == ("offline", "budget")
    assert third.output["intent"] == "book"
    assert third.cost_micros == 0
    assert len(requests_of(sandbox, key)) == 2
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.tenant_id == tenant_a, AuditEvent.action.like("llm.%")
                )
            )
        ).all()
    assert sorted(actions) == ["llm.budget_exhausted", "llm.budget_warning"]
