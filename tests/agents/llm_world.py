"""What the agent tests over the LLM sandbox share: the sandbox, a tenant whose policy lets an
OpenAI-compatible server see its data, its integration holding the sandbox key, and two test
actions (a write and a money one) that call a loopback provider."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import BaseModel, Field, JsonValue

from smeflow.agents.schemas import AgentConfig, AgentCreate
from smeflow.agents.service import create_agent
from smeflow.audit import Actor
from smeflow.connectors.sandbox import serving
from smeflow.connectors.sandbox.llm import LlmSandbox
from smeflow.db import Database, DbScope
from smeflow.engine.runtime import Action, ActionContext, Runtime, known_tools
from smeflow.integrations import Vault, create_integration
from smeflow.integrations.schemas import IntegrationCreate
from smeflow.settings import LlmPrice, Settings
from smeflow.tenancy.models import Tenant

MODEL = "gpt-4o-mini"
PRICE = LlmPrice(input_per_million=150_000, output_per_million=600_000, cached_per_million=75_000)


def llm_sandbox() -> Iterator[str]:
    with serving(LlmSandbox()) as url:
        yield url


def with_prices(settings: Settings) -> Settings:
    return settings.model_copy(update={"llm_prices": {f"openai_compatible:{MODEL}": PRICE}})


def new_key() -> str:
    return f"sk-sandbox-{uuid.uuid4().hex}"


def script(url: str, key: str, *turns: dict[str, Any]) -> None:
    answer = httpx.post(
        f"{url}/_sandbox/llm/script", json=list(turns), headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code < 300, answer.text


def requests_of(url: str, key: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/_sandbox/llm/requests", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return [r for r in answer.json()["requests"] if r["path"].endswith("/chat/completions")]


async def allow_llm(db: Database, tenant_id: uuid.UUID, *, pii: bool = False) -> None:
    async with db.transaction(DbScope.platform()) as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.residency = {"llm_providers": ["offline", "openai_compatible"], "pii_to_llm": pii}


async def connect_llm(
    db: Database, settings: Settings, runtime: Runtime, tenant_id: uuid.UUID, url: str, key: str
) -> None:
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
                name="Sandbox model",
                config={"base_url": f"{url}/v1", "default_model": MODEL},
                credentials={"api_key": key},
            ),
        )


async def add_agent(
    db: Database, runtime: Runtime, tenant_id: uuid.UUID, name: str, type_: str = "automator", **config: Any
) -> None:
    config.setdefault("model", f"openai_compatible:{MODEL}")
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        await create_agent(
            session,
            Actor.system(),
            tenant_id,
            AgentCreate(name=name, type=type_, config=AgentConfig(**config)),  # type: ignore[arg-type]
            known_tools(runtime.actions),
        )


class NoteIn(BaseModel):
    text: str = Field(description="what to note on the customer's file")


class Note(Action):
    """Note something on the customer's file."""

    name = "shop.note"
    effect = "write"
    input_model = NoteIn

    def __init__(self, url: str) -> None:
        self.url = url

    async def run(self, ctx: ActionContext, data: NoteIn) -> JsonValue:
        answer = await ctx.http.post(
            f"{self.url}/note", json=data.model_dump(), headers={"Idempotency-Key": ctx.idempotency_key}
        )
        return {"noted": answer.status_code == 200}


class ChargeIn(BaseModel):
    phone: str = Field(description="the customer's phone number")
    amount_minor: int = Field(gt=0, description="the amount in minor units")


class Charge(Action):
    """Charge a deposit to the customer's phone."""

    name = "till.charge"
    effect = "money"
    input_model = ChargeIn

    def __init__(self, url: str) -> None:
        self.url = url

    async def run(self, ctx: ActionContext, data: ChargeIn) -> JsonValue:
        await ctx.http.post(
            f"{self.url}/charge", json=data.model_dump(), headers={"Idempotency-Key": ctx.idempotency_key}
        )
        return {"charged": data.amount_minor, "currency": "KES"}


def agent_workflow(agent: str) -> dict[str, Any]:
    """trigger → the agent answers the customer's ``text`` → end with its reply."""
    return {
        "schema_version": 1,
        "name": f"Ask {agent}",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "answer",
                "kind": "agent",
                "config": {"agent": agent, "input": {"text": "=input.text"}, "confidence_threshold": 0.5},
            },
            {"id": "done", "kind": "end", "config": {"output": {"reply": "nodes.answer.reply"}}},
        ],
        "edges": [{"from": "start", "to": "answer"}, {"from": "answer", "to": "done"}],
    }
