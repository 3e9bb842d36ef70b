"""Agent steps on the real database: the offline ``rules`` agent answers from its table; a paid
agent (a test agent calling a local HTTP "model server") is asked once per run and step, its reply
journaled and its cost counted once, also when the run is re-executed; below the step's
confidence threshold a person approves (the proposal goes on) or rejects (the step fails and its
``on_error`` way is taken); an unknown agent is refused when compiled."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.engine.definitions import parse_definition
from smeflow.engine.run_models import RunEvent
from smeflow.engine.runtime import (
    AgentCall,
    AgentRegistry,
    AgentReply,
    AgentRequest,
    RulesAgent,
    Runtime,
    TransientStepError,
    UnsupportedNode,
    build_graph,
    decide,
    default_actions,
    list_approvals,
    list_events,
    thread_id,
)

from .test_runtime import accept, load, published

PERSON = Actor("user", "0191f0c0-0000-7000-8000-000000000002")


class ModelServer:
    """A local HTTP server standing in for an LLM provider: answers each POST with the next
    scripted reply (the last one repeats) and records the calls."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = [{"output": {"intent": "book"}, "confidence": 0.9}]
        self.calls: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append({"body": body, "key": self.headers.get("Idempotency-Key")})
                reply = outer.replies[min(len(outer.calls), len(outer.replies)) - 1]
                answer = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/answer"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


class PaidAgent:
    """``paid``: asks the model server; each answer costs 2,500 micro-dollars."""

    name = "paid"

    def __init__(self, url: str) -> None:
        self.url = url

    async def run(self, call: AgentCall, request: AgentRequest) -> AgentReply:
        response = await call.http.post(
            self.url,
            json={"instructions": request.instructions, "input": request.input, "language": request.language},
            headers={"Idempotency-Key": call.idempotency_key},
        )
        if response.status_code >= 500:
            raise TransientStepError(f"the model server answered {response.status_code}")
        body = response.json()
        return AgentReply(
            body["output"],
            body["confidence"],
            cost_micros=2500,
            model="loopback-1",
            tokens_in=42,
            tokens_out=7,
        )


@pytest.fixture
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


@pytest.fixture
async def runtime(db: Database, model: ModelServer) -> AsyncIterator[Runtime]:
    async with Runtime(
        db, agents=AgentRegistry([RulesAgent(), PaidAgent(model.url)]), allow_private_networks=True
    ) as opened:
        yield opened


def asking(agent: dict[str, Any], *, on_error: bool = False) -> dict[str, Any]:
    """trigger → reply (agent) → done; with ``on_error``: reply ⇢ person (an end saying a person
    takes over)."""
    step: dict[str, Any] = {"id": "reply", "kind": "agent", "config": agent}
    nodes: list[dict[str, Any]] = [
        {"id": "start", "kind": "trigger"},
        step,
        {"id": "done", "kind": "end", "config": {"output": {"answer": "nodes.reply"}}},
    ]
    if on_error:
        step["on_error"] = "person"
        nodes.append({"id": "person", "kind": "end", "config": {"output": {"handover": "true"}}})
    return {
        "schema_version": 1,
        "name": "Receptionist",
        "triggers": [{"kind": "manual"}],
        "nodes": nodes,
        "edges": [{"from": "start", "to": "reply"}, {"from": "reply", "to": "done"}],
    }


PRICES = {
    "agent": "rules",
    "instructions": "Answer price questions",
    "input": {
        "text": "=input.message",
        "rules": {
            "haircut": "A haircut is KES 500",
            "braids": "Braids are KES 2,000",
            "how much": "See our prices",
        },
        "default": "A person will answer you shortly",
    },
    "output_key": "answer",
}


async def events_of(db: Database, tenant: uuid.UUID, run_id: uuid.UUID) -> list[RunEvent]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return await list_events(session, tenant, run_id)


def cost_of(owner: psycopg.Connection, run_id: uuid.UUID) -> int:
    row = owner.execute("SELECT cost_micros FROM runs WHERE id = %s", (run_id,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_the_rules_agent_answers_from_its_table(
    db: Database, runtime: Runtime, tenant_a: uuid.UUID
) -> None:
    definition = asking(PRICES)
    definition["nodes"][2]["config"]["output"] |= {"kept": "vars.answer.reply"}
    workflow = await published(db, tenant_a, definition)
    asked = {
        "Hello, how much are BRAIDS?": ("See our prices", "how much"),  # found first in the text
        "Braids or a haircut?": ("Braids are KES 2,000", "braids"),
        "haircuts and braids": ("Braids are KES 2,000", "braids"),  # whole words only
    }
    for message, (reply, keyword) in asked.items():
        run_id = await accept(db, tenant_a, workflow, {"message": message})
        assert await runtime.execute_run(tenant_a, run_id) == "succeeded", message
        run, _ = await load(db, tenant_a, run_id)
        assert run.output == {"answer": {"reply": reply, "keyword": keyword}, "kept": reply}, message
        assert run.cost_micros == 0
    step = (await events_of(db, tenant_a, run_id))[1]
    assert (step.node_id, step.kind, step.status) == ("reply", "agent", "succeeded")
    assert step.input["text"] == "haircuts and braids"
    assert step.output == {
        "output": {"reply": "Braids are KES 2,000", "keyword": "braids"},
        "confidence": 1.0,
        "cost_micros": 0,
        "model": "rules",
        "tokens_in": 0,
        "tokens_out": 0,
    }


async def test_a_paid_reply_is_journaled_and_counted_once(
    db: Database, runtime: Runtime, tenant_a: uuid.UUID, model: ModelServer, owner_conn: psycopg.Connection
) -> None:
    config = {"agent": "paid", "instructions": "Find the intent", "input": {"text": "=input.message"}}
    workflow = await published(db, tenant_a, asking(config))
    run_id = await accept(db, tenant_a, workflow, {"message": "Nataka kusuka nywele", "language": "sw"})
    assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
    run, _ = await load(db, tenant_a, run_id)
    assert run.output == {"answer": {"intent": "book"}}
    assert cost_of(owner_conn, run_id) == 2500
    assert model.calls == [
        {
            "body": {
                "instructions": "Find the intent",
                "input": {"text": "Nataka kusuka nywele"},
                "language": "sw",
            },
            "key": f"{run_id}:reply",
        }
    ]
    # A worker lost the run after the reply was journaled: it starts again from the trigger.
    owner_conn.execute("UPDATE runs SET status = 'running' WHERE id = %s", (run_id,))
    owner_conn.execute("DELETE FROM engine.checkpoints WHERE thread_id = %s", (thread_id(tenant_a, run_id),))
    model.replies = [{"output": {"intent": "complain"}, "confidence": 0.99}]
    assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"answer": {"intent": "book"}}  # the journaled reply, not a new one
    assert len(model.calls) == 1
    assert cost_of(owner_conn, run_id) == 2500
    assert [node for node, _ in events].count("reply") == 2


async def test_an_unsure_agent_asks_a_person_who_approves(
    db: Database, runtime: Runtime, tenant_a: uuid.UUID, model: ModelServer, owner_conn: psycopg.Connection
) -> None:
    model.replies = [{"output": {"intent": "cancel"}, "confidence": 0.4}]
    config = {"agent": "paid", "input": {"text": "=input.message"}, "confidence_threshold": 0.75}
    definition = asking(config)
    definition["nodes"][1]["label"] = "Understand the message"
    workflow = await published(db, tenant_a, definition)
    run_id = await accept(db, tenant_a, workflow, {"message": "sitaki tena"})
    assert await runtime.execute_run(tenant_a, run_id) == "waiting"
    run, events = await load(db, tenant_a, run_id)
    assert events == [("start", "succeeded"), ("reply", "waiting")]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        (approval,) = await list_approvals(session, tenant_a, run_id=run_id)
    assert (approval.title, approval.role, approval.status, approval.due_at) == (
        "The agent paid is not sure: Understand the message",
        "staff",
        "pending",
        None,
    )
    assert approval.details == {
        "Proposed answer": {"intent": "cancel"},
        "Confidence": 0.4,
        "Input": {"text": "sitaki tena"},
    }
    waiting = (await events_of(db, tenant_a, run_id))[1]
    assert waiting.input == {"text": "sitaki tena", "approval_id": str(approval.id)}
    assert waiting.output["confidence"] == 0.4

    assert await runtime.execute_run(tenant_a, run_id) == "waiting"  # nobody decided yet
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await decide(session, PERSON, tenant_a, approval.id, "approve")
    assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"answer": {"intent": "cancel"}}
    assert events[-2:] == [("reply", "succeeded"), ("done", "succeeded")]
    step = (await events_of(db, tenant_a, run_id))[-2]
    assert (step.output["approved_by"], step.output["confidence"]) == (f"user:{PERSON.id}", 0.4)
    assert len(model.calls) == 1
    assert cost_of(owner_conn, run_id) == 2500


async def test_a_rejected_answer_takes_the_error_way(
    db: Database, runtime: Runtime, tenant_a: uuid.UUID, model: ModelServer
) -> None:
    model.replies = [{"output": {"intent": "cancel"}, "confidence": 0.2}]
    config = {"agent": "paid", "input": {"text": "=input.message"}, "review_role": "admin"}
    workflow = await published(db, tenant_a, asking(config, on_error=True))
    run_id = await accept(db, tenant_a, workflow, {"message": "?"})
    assert await runtime.execute_run(tenant_a, run_id) == "waiting"
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        (approval,) = await list_approvals(session, tenant_a, run_id=run_id)
        assert approval.role == "admin"
        await decide(session, PERSON, tenant_a, approval.id, "reject")
    assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"handover": True}
    assert events == [
        ("start", "succeeded"),
        ("reply", "waiting"),
        ("reply", "failed"),
        ("person", "succeeded"),
    ]
    failed = (await events_of(db, tenant_a, run_id))[2]
    assert failed.error == (
        "Step 'reply': the agent 'paid' was not sure of its answer (confidence 20%, below 70%) "
        "and the answer was rejected"
    )


async def test_a_rejected_answer_without_an_error_way_fails_the_run(
    db: Database, runtime: Runtime, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a, asking(PRICES))
    run_id = await accept(db, tenant_a, workflow, {"message": "Do you open on Sunday?"})
    assert await runtime.execute_run(tenant_a, run_id) == "waiting"  # no keyword: confidence 0
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        (approval,) = await list_approvals(session, tenant_a, run_id=run_id)
        assert approval.title == "The agent rules is not sure: Answer price questions"
        assert approval.details["Proposed answer"] == {
            "reply": "A person will answer you shortly",
            "keyword": None,
        }
        await decide(session, PERSON, tenant_a, approval.id, "reject")
    assert await runtime.execute_run(tenant_a, run_id) == "failed"
    run, _ = await load(db, tenant_a, run_id)
    assert run.error is not None
    assert run.error.startswith("Step 'reply': the agent 'rules' was not sure of its answer (confidence 0%")


async def test_an_unusable_reply_fails_the_step_readably(
    db: Database, runtime: Runtime, tenant_a: uuid.UUID, model: ModelServer, owner_conn: psycopg.Connection
) -> None:
    model.replies = [{"output": {"intent": "book"}, "confidence": 1.5}]
    workflow = await published(db, tenant_a, asking({"agent": "paid"}))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await runtime.execute_run(tenant_a, run_id) == "failed"
    run, _ = await load(db, tenant_a, run_id)
    assert run.error == (
        "Step 'reply': the agent 'paid' gave a reply that cannot be used: "
        "its confidence 1.5 is not between 0 and 1"
    )
    assert cost_of(owner_conn, run_id) == 0
    assert owner_conn.execute("SELECT count(*) FROM step_journal").fetchone() == (0,)


async def test_a_broken_rules_table_fails_the_step_naming_the_input(
    db: Database, runtime: Runtime, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a, asking({"agent": "rules", "input": {"text": "hi", "rules": {}}}))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await runtime.execute_run(tenant_a, run_id) == "failed"
    run, _ = await load(db, tenant_a, run_id)
    assert run.error is not None
    assert run.error.startswith("Step 'reply': the input 'rules' of the rules agent is not valid")


async def test_an_unknown_agent_is_refused_when_compiled(
    db: Database, runtime: Runtime, tenant_a: uuid.UUID
) -> None:
    definition = asking({"agent": "receptionist"})
    with pytest.raises(UnsupportedNode) as caught:
        build_graph(parse_definition(definition), default_actions(), agents=runtime.agents)
    assert caught.value.message == "no agent named 'receptionist' is installed (step 'reply')"
    assert [(f.field, f.code) for f in caught.value.fields] == [
        ("definition.nodes[1].config.agent", "unknown_agent")
    ]
    workflow = await published(db, tenant_a, definition)
    run_id = await accept(db, tenant_a, workflow, {})
    assert await runtime.execute_run(tenant_a, run_id) == "failed"
    run, events = await load(db, tenant_a, run_id)
    assert run.error == "no agent named 'receptionist' is installed (step 'reply')"
    assert events == []
