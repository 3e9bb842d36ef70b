"""The LLM response cache: what a cache hit costs against asking the model, on this machine.

One tenant (its residency allows an OpenAI-compatible server), its agent answering through the
real OpenAI client against the LLM sandbox (in this process, its own thread; it answers at once,
so the *miss* figure is SMEFlow's own overhead plus the HTTP round trip, not a real model's
seconds). Measured, all through ``AgentService.turn`` (agent and budget loaded, ledger row
written):

* **miss**: a new question each time: the model is asked (the baseline: what a hit saves);
* **exact hit**: the same question again (normalised): one indexed lookup, no embedding;
* **semantic hit**: a reworded question: exact miss, then the question's e5 embedding and the
  nearest cached question of the tenant (pgvector, exact distance over the tenant's entries);
* the lookups alone (``smeflow.agents._cache.lookup``), without the turn around them.

Target: cache hit p95 ≤ 5 ms. Run by ``bench/agents.py``, or alone: ``python bench/agent_cache.py``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from smeflow.agents import AgentService, TurnContext
from smeflow.agents._cache import cache_key, lookup
from smeflow.agents._embedding import embed_query
from smeflow.agents.schemas import AgentConfig, AgentCreate
from smeflow.agents.service import create_agent
from smeflow.audit import Actor
from smeflow.connectors.sandbox import serving
from smeflow.connectors.sandbox.llm import LlmSandbox
from smeflow.db import Database, DbScope, EmbeddedPostgres, ensure_database, migrate, to_async_url, to_libpq
from smeflow.engine.runtime import Runtime
from smeflow.integrations import Vault, create_integration
from smeflow.integrations.schemas import IntegrationCreate
from smeflow.settings import LlmPrice, Settings
from smeflow.tenancy import TenantCreate, create_tenant
from smeflow.tenancy.models import Tenant

SECRET = "bench-secret-key-0123456789abcdef0123456789"  # noqa: S105 (a throwaway database)
MODEL = "gpt-4o-mini"
KEY = f"sk-sandbox-{uuid.uuid4().hex}"


SERVICES = [
    "braids",
    "cornrows",
    "box braids",
    "dreadlocks",
    "a haircut",
    "a beard trim",
    "a manicure",
    "a pedicure",
    "gel nails",
    "acrylic nails",
    "a facial",
    "a massage",
    "eyebrow threading",
    "lash extensions",
    "a hair wash",
    "hair colouring",
    "a relaxer",
    "weaving",
    "a wig fitting",
    "make-up",
]
FOR = [
    "children",
    "brides",
    "men",
    "students",
    "elderly clients",
    "walk-in customers",
    "groups",
    "regular clients",
    "first-time clients",
    "tourists",
]
QUESTIONS = [f"Do you do {service} for {who}?" for who in FOR for service in SERVICES]


def stats_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "mean": statistics.fmean(ordered) * 1000}


async def _seed(db: Database, settings: Settings, url: str) -> uuid.UUID:
    async with db.transaction(DbScope.platform()) as session:
        tenant = await create_tenant(
            session,
            settings,
            Actor.system(),
            TenantCreate(slug="bench-salon", name="Bench Salon", country="KE"),
        )
        tenant_id = tenant.id
    async with db.transaction(DbScope.platform()) as session:
        row = await session.get(Tenant, tenant_id)
        assert row is not None
        row.residency = {"llm_providers": ["offline", "openai_compatible"]}
    runtime = Runtime(db, settings=settings, http=httpx.AsyncClient())
    assert runtime.integrations is not None
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        await create_integration(
            session,
            Actor.system(),
            tenant_id,
            runtime.integrations.registry,
            Vault.from_settings(settings),
            IntegrationCreate(
                connector="openai_compatible",
                name="Sandbox",
                config={"base_url": f"{url}/v1", "default_model": MODEL},
                credentials={"api_key": KEY},
            ),
        )
        await create_agent(
            session,
            Actor.system(),
            tenant_id,
            AgentCreate(name="Helper", type="mentor", config=AgentConfig(model=f"openai_compatible:{MODEL}")),
            {},
        )
    return tenant_id


async def _measure(db: Database, settings: Settings, tenant_id: uuid.UUID, n: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=30) as http:
        service = getattr(Runtime(db, settings=settings, http=http).agents.tenants, "service", None)
        assert isinstance(service, AgentService)

        async def turn(text: str) -> tuple[float, str]:
            ctx = TurnContext(tenant_id, None, None, f"bench:{uuid.uuid4()}", http)
            started = time.perf_counter()
            result = await service.turn(ctx, "Helper", instructions=None, given={"text": text}, language="en")
            return time.perf_counter() - started, str(result.output["mode"])

        await turn("warm up: what time do you open?")
        embed_query("warm up")
        misses, exact, semantic = [], [], []
        questions = QUESTIONS[:n]
        for question in questions:
            took, mode = await turn(question)
            assert mode == "llm", (question, mode)
            misses.append(took)
        for question in questions:
            took, mode = await turn("  " + question.upper().rstrip("?") + " ")
            assert mode == "cache", (question, mode)
            exact.append(took)
        hits = 0
        for question in questions:
            took, mode = await turn(question.replace("Do you", "Can you").replace("?", " please?"))
            semantic.append(took)
            hits += mode == "cache"
        results["turn: miss (model asked)"] = stats_ms(misses)
        results["turn: exact hit"] = stats_ms(exact)
        results["turn: semantic hit"] = stats_ms(semantic)
        results["semantic hit rate"] = hits / n

        key = cache_key(f"openai_compatible:{MODEL}", "x", [], "nothing like it", [], "en")
        alone_exact, alone_semantic = [], []
        vector = embed_query("Do you do braids for children?")
        for _ in range(n):
            async with db.transaction(DbScope.tenant(tenant_id)) as session:
                started = time.perf_counter()
                await lookup(session, tenant_id, key, embed=None, threshold=0.95)
                alone_exact.append(time.perf_counter() - started)
            async with db.transaction(DbScope.tenant(tenant_id)) as session:
                started = time.perf_counter()
                await lookup(session, tenant_id, key, embed=lambda: vector, threshold=0.95)
                alone_semantic.append(time.perf_counter() - started)
        embeds = []
        for i in range(n):
            started = time.perf_counter()
            embed_query(QUESTIONS[i % len(QUESTIONS)])
            embeds.append(time.perf_counter() - started)
        results["lookup alone: exact"] = stats_ms(alone_exact)
        results["lookup alone: semantic (vector given)"] = stats_ms(alone_semantic)
        results["question embedding"] = stats_ms(embeds)
    return results


def bench_cache(n: int = 200) -> dict[str, Any]:
    """Set up a database, the sandbox and a tenant; measure; tear down."""
    folder = Path(tempfile.mkdtemp(prefix="smeflow-bench-cache-"))
    external = os.environ.get("SMEFLOW_DATABASE_URL")
    embedded = None if external else EmbeddedPostgres(folder / "pg", delete_on_exit=True)
    server = to_async_url(external) if external else to_async_url(embedded.uri("postgres"))  # type: ignore[union-attr]
    name = f"smeflow_bench_cache_{uuid.uuid4().hex[:6]}"
    ensure_database(server, name)
    owner = server.set(database=name)
    migrate(owner, "smeflow_app")
    price = LlmPrice(input_per_million=150_000, output_per_million=600_000)
    settings = Settings(
        _env_file=None,
        env="prod",
        secret_key=SECRET,
        database_url=to_libpq(owner),
        llm_prices={f"openai_compatible:{MODEL}": price},
    )
    try:
        with serving(LlmSandbox()) as url:

            async def run() -> dict[str, Any]:
                db = Database.from_settings(settings)
                try:
                    tenant_id = await _seed(db, settings, url)
                    return await _measure(db, settings, tenant_id, n)
                finally:
                    await db.dispose()

            return asyncio.run(run())
    finally:
        if embedded is not None:
            embedded.stop()


def print_cache(results: dict[str, Any]) -> None:
    print("\nLLM response cache (one tenant, LLM sandbox answering at once; ms)")
    for name, value in results.items():
        if isinstance(value, dict):
            print(f"  {name:<40} p50 {value['p50']:7.2f}  p95 {value['p95']:7.2f}  p99 {value['p99']:7.2f}")
        else:
            print(f"  {name:<40} {value:.0%}")
    p95 = max(results["turn: exact hit"]["p95"], results["lookup alone: exact"]["p95"])
    print(
        f"  target: cache hit p95 <= 5 ms; exact-hit turn p95 {results['turn: exact hit']['p95']:.2f} ms "
        f"({'met' if p95 <= 5 else 'missed'})"
    )


if __name__ == "__main__":
    print_cache(bench_cache())
