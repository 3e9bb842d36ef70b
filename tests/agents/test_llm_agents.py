"""An automator answering through a real OpenAI client over HTTP (the LLM sandbox): it calls a
write tool, then a money tool that waits for a person; approved, the run goes on without asking
the model again or repeating the write; the prompt never held the customer's phone number, the
money tool got it; the cost ledger equals the usage the sandbox reported."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import func, select

from engine.provider import Provider, provider
from engine.test_runtime import accept, load, published
from smeflow.agents._usage import Usage, cost_micros
from smeflow.agents.models import LlmCall
from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.engine.runtime import RunQueue, Runtime, decide, list_approvals, list_events
from smeflow.settings import Settings

from .llm_world import (
    PRICE,
    Charge,
    Note,
    add_agent,
    agent_workflow,
    allow_llm,
    connect_llm,
    llm_sandbox,
    new_key,
    requests_of,
    script,
    with_prices,
)

PERSON = Actor("user", "0191f0c0-0000-7000-8000-000000000009")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    yield from llm_sandbox()


@pytest.fixture
def loopback() -> Iterator[Provider]:
    with provider() as server:
        yield server


@pytest.fixture
async def queue(db: Database, settings: Settings, loopback: Provider) -> AsyncIterator[RunQueue]:
    async with (
        Runtime(db, settings=with_prices(settings), allow_private_networks=True) as runtime,
        RunQueue(runtime) as run_queue,
    ):
        runtime.actions.register(Note(loopback.url))
        runtime.actions.register(Charge(loopback.url))
        yield run_queue


async def test_a_money_tool_waits_for_a_person_and_nothing_is_asked_or_done_twice(
    db: Database, settings: Settings, queue: RunQueue, tenant_a: uuid.UUID, sandbox: str, loopback: Provider
) -> None:
    runtime = queue.runtime
    key = new_key()
    await allow_llm(db, tenant_a)
    await connect_llm(db, settings, runtime, tenant_a, sandbox, key)
    await add_agent(
        db, runtime, tenant_a, "Cashier", tools=["shop.note", "till.charge"], instructions="Take deposits."
    )
    usages = [(210, 18), (260, 22), (300, 31)]
    script(
        sandbox,
        key,
        {
            "tool_calls": [{"name": "shop__note", "arguments": {"text": "wants braids"}}],
            "usage": {"prompt_tokens": 210, "completion_tokens": 18},
        },
        {
            "tool_calls": [
                {"name": "till__charge", "arguments": {"phone": "<PHONE_1>", "amount_minor": 50000}}
            ],
            "usage": {"prompt_tokens": 260, "completion_tokens": 22},
        },
        {
            "content": "Asante! Your deposit of KES 500 is paid.",
            "usage": {"prompt_tokens": 300, "completion_tokens": 31},
        },
    )
    workflow = await published(db, tenant_a, agent_workflow("Cashier"))
    text = "Habari, I want braids tomorrow. Charge my deposit to 0712 345 678 please"
    run_id = await accept(db, tenant_a, workflow, {"text": text}, queue)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)

    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "waiting", run.error
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        pending = await list_approvals(session, tenant_a, status="pending")
    assert len(pending) == 1
    assert pending[0].title == "The agent Cashier wants to move money: till.charge"
    assert pending[0].details["Arguments"] == {"phone": "0712 345 678", "amount_minor": 50000}
    assert [c["path"] for c in loopback.calls] == ["/note"]
    assert len(requests_of(sandbox, key)) == 2

    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await decide(session, PERSON, tenant_a, pending[0].id, "approve", "deposit agreed", queue=queue)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)

    run, _ = await load(db, tenant_a, run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert run.output == {"reply": "Asante! Your deposit of KES 500 is paid."}
    # the write ran once, the charge once with the real number; the model was asked three times
    assert [c["path"] for c in loopback.calls] == ["/note", "/charge"]
    assert loopback.calls[1]["body"] == {"phone": "0712 345 678", "amount_minor": 50000}
    sent = requests_of(sandbox, key)
    assert len(sent) == 3
    prompts = " ".join(str(r["body"]["messages"]) for r in sent)
    assert "0712 345 678" not in prompts
    assert "<PHONE_1>" in prompts
    assert [t["function"]["name"] for t in sent[0]["body"]["tools"]] == [
        "shop__note",
        "till__charge",
        "handoff_to_human",
    ]

    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        events = await list_events(session, tenant_a, run_id)
        rows = (await session.execute(select(LlmCall).where(LlmCall.tenant_id == tenant_a))).scalars().all()
    tools = [(e.kind, e.status, (e.input or {}).get("tool")) for e in events if e.kind == "tool"]
    assert tools == [
        ("tool", "succeeded", "shop.note"),
        ("tool", "waiting", "till.charge"),
        ("tool", "succeeded", "till.charge"),
    ]
    assert sorted((r.input_tokens, r.output_tokens, r.source) for r in rows) == [
        (i, o, "model") for i, o in usages
    ]
    assert sum(r.input_tokens for r in rows) == sum(i for i, _ in usages)
    assert sum(r.output_tokens for r in rows) == sum(o for _, o in usages)
    expected = sum(cost_micros(Usage(i, o, 0), PRICE) for i, o in usages)
    assert sum(r.cost_micros for r in rows) == expected
    assert run.cost_micros == expected
    assert all(r.run_id == run_id and r.agent_name == "Cashier" for r in rows)


async def test_a_rejected_money_tool_is_told_to_the_model(
    db: Database, settings: Settings, queue: RunQueue, tenant_a: uuid.UUID, sandbox: str, loopback: Provider
) -> None:
    runtime = queue.runtime
    key = new_key()
    await allow_llm(db, tenant_a)
    await connect_llm(db, settings, runtime, tenant_a, sandbox, key)
    await add_agent(db, runtime, tenant_a, "Cashier", tools=["till.charge"])
    script(
        sandbox,
        key,
        {
            "tool_calls": [
                {"name": "till__charge", "arguments": {"phone": "+254712345678", "amount_minor": 900000}}
            ]
        },
        {"content": "Sorry, a person will call you about the payment.", "match": "did not approve"},
    )
    workflow = await published(db, tenant_a, agent_workflow("Cashier"))
    run_id = await accept(db, tenant_a, workflow, {"text": "Charge me 9000 now"}, queue)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        (pending,) = await list_approvals(session, tenant_a, status="pending")
        await decide(session, PERSON, tenant_a, pending.id, "reject", "too much", queue=queue)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)
    run, _ = await load(db, tenant_a, run_id)
    assert (run.status, run.output) == (
        "succeeded",
        {"reply": "Sorry, a person will call you about the payment."},
    )
    assert loopback.calls == []
    last = requests_of(sandbox, key)[-1]["body"]["messages"][-1]
    assert last["role"] == "tool"
    assert "did not approve till.charge: too much" in last["content"]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        calls = await session.scalar(
            select(func.count()).select_from(LlmCall).where(LlmCall.tenant_id == tenant_a)
        )
    assert calls == 2
