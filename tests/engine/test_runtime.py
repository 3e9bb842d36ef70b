"""The runtime on the real database: a workflow runs through a real procrastinate worker, its steps
are recorded, journaled side effects are not repeated, conditions route, tenants stay apart."""

from __future__ import annotations

import copy
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
from smeflow.engine.run_models import Run
from smeflow.engine.runtime import (
    RunQueue,
    Runtime,
    UnsupportedNode,
    build_graph,
    default_actions,
    get_run,
    list_events,
    list_runs,
    start_run,
    thread_id,
)
from smeflow.engine.workflows import create_workflow, publish
from smeflow.errors import NotFound

SYSTEM = Actor.system("tests")


class Loopback:
    """A local HTTP server that counts the POSTs it answers."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.posts.append({"body": body, "key": self.headers.get("Idempotency-Key")})
                answer = json.dumps({"ok": True, "n": len(outer.posts)}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bookings"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


def five_nodes(url: str) -> dict[str, Any]:
    """trigger → core.set → condition → http.request → end (the condition skips the call for small
    amounts)."""
    return {
        "schema_version": 1,
        "name": "Big bookings",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "prep",
                "kind": "action",
                "config": {"action": "core.set", "input": {"total": "=input.amount * 2"}},
            },
            {"id": "check", "kind": "condition", "config": {"default": "done"}},
            {
                "id": "call",
                "kind": "action",
                "config": {
                    "action": "http.request",
                    "input": {"url": url, "method": "POST", "json": {"total": "=vars.total"}},
                },
            },
            {
                "id": "done",
                "kind": "end",
                "config": {
                    "output": {"total": "vars.total", "answer": "has(nodes.call) ? nodes.call.status : 0"}
                },
            },
        ],
        "edges": [
            {"from": "start", "to": "prep"},
            {"from": "prep", "to": "check"},
            {"from": "check", "to": "call", "condition": "vars.total > 100"},
            {"from": "check", "to": "done"},
            {"from": "call", "to": "done"},
        ],
    }


@pytest.fixture
async def queue(db: Database) -> AsyncIterator[RunQueue]:
    async with Runtime(db, allow_private_networks=True) as runtime, RunQueue(runtime) as run_queue:
        yield run_queue


async def published(db: Database, tenant: uuid.UUID, definition: dict[str, Any]) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        workflow, problems = await create_workflow(session, SYSTEM, tenant, definition["name"], definition)
        assert problems == []
        await publish(session, SYSTEM, tenant, workflow.id)
        return workflow.id


async def accept(
    db: Database, tenant: uuid.UUID, workflow: uuid.UUID, data: dict[str, Any], queue: RunQueue | None = None
) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        run = await start_run(session, SYSTEM, tenant, workflow, data, queue=queue)
        return run.id


async def load(db: Database, tenant: uuid.UUID, run_id: uuid.UUID) -> tuple[Run, list[tuple[str, str]]]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        run = await get_run(session, tenant, run_id)
        events = [(e.node_id, e.status) for e in await list_events(session, tenant, run_id)]
        return run, events


async def test_a_run_goes_through_the_worker(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Loopback, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, five_nodes(loopback.url))
    run_id = await accept(db, tenant_a, workflow, {"amount": 60}, queue)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "queued"
    await queue.wait_deferred()
    await queue.run_worker(wait=False)

    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert run.output == {"total": 120, "answer": 201}
    assert events == [(n, "succeeded") for n in ("start", "prep", "check", "call", "done")]
    assert [post["body"] for post in loopback.posts] == [{"total": 120}]
    assert loopback.posts[0]["key"] == f"{run_id}:call"
    # Only the last checkpoint of a finished run is kept.
    kept = owner_conn.execute(
        "SELECT count(*) FROM engine.checkpoints WHERE thread_id = %s", (thread_id(tenant_a, run_id),)
    ).fetchone()
    assert kept == (1,)


async def test_the_condition_routes_both_ways(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Loopback
) -> None:
    workflow = await published(db, tenant_a, five_nodes(loopback.url))
    small = await accept(db, tenant_a, workflow, {"amount": 10})
    big = await accept(db, tenant_a, workflow, {"amount": 51})
    assert await queue.runtime.execute_run(tenant_a, small) == "succeeded"
    assert await queue.runtime.execute_run(tenant_a, big) == "succeeded"

    run, events = await load(db, tenant_a, small)
    assert run.output == {"total": 20, "answer": 0}
    assert [node for node, _ in events] == ["start", "prep", "check", "done"]
    run, events = await load(db, tenant_a, big)
    assert run.output == {"total": 102, "answer": 201}
    assert [node for node, _ in events] == ["start", "prep", "check", "call", "done"]
    assert len(loopback.posts) == 1


async def test_a_reexecuted_run_does_not_repeat_a_journaled_write(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Loopback, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, five_nodes(loopback.url))
    run_id = await accept(db, tenant_a, workflow, {"amount": 70})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    assert len(loopback.posts) == 1
    # A worker died after the call: the run is still "running" and its checkpoints are gone, so
    # the graph starts again from the trigger.
    owner_conn.execute("UPDATE runs SET status = 'running' WHERE id = %s", (run_id,))
    owner_conn.execute("DELETE FROM engine.checkpoints WHERE thread_id = %s", (thread_id(tenant_a, run_id),))
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"

    assert len(loopback.posts) == 1
    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"total": 140, "answer": 201}
    assert [node for node, _ in events].count("call") == 2  # the step ran twice, the POST once
    # A finished run is not executed again.
    assert await queue.runtime.execute_run(tenant_a, run_id) is None


async def test_the_sweeper_queues_runs_whose_job_was_lost(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Loopback, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, five_nodes(loopback.url))
    run_id = await accept(db, tenant_a, workflow, {"amount": 1})  # accepted, never deferred
    assert await queue.sweep() == 0  # too young to be called lost
    owner_conn.execute(
        "UPDATE runs SET created_at = created_at - interval '1 minute' WHERE id = %s", (run_id,)
    )
    assert await queue.sweep() == 1
    assert await queue.sweep() == 1  # its job is waiting: no second job
    jobs = owner_conn.execute(
        "SELECT count(*) FROM engine.procrastinate_jobs WHERE task_name = 'smeflow.execute_run'"
    )
    assert jobs.fetchone() == (1,)
    await queue.run_worker(wait=False)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "succeeded"


def with_missing_action(url: str) -> dict[str, Any]:
    definition = copy.deepcopy(five_nodes(url))
    definition["nodes"].append({"id": "gone", "kind": "action", "config": {"action": "shop.uninstalled"}})
    definition["edges"][0] = {"from": "start", "to": "gone"}
    definition["edges"].append({"from": "gone", "to": "prep"})
    return definition


async def test_an_action_not_installed_is_refused_when_compiled(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Loopback
) -> None:
    definition = with_missing_action(loopback.url)
    with pytest.raises(UnsupportedNode) as caught:
        build_graph(parse_definition(definition), default_actions())
    assert "no action named 'shop.uninstalled' is installed" in caught.value.message
    assert caught.value.fields[0].field == "definition.nodes[5].config.action"

    workflow = await published(db, tenant_a, definition)
    run_id = await accept(db, tenant_a, workflow, {"amount": 500})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    run, events = await load(db, tenant_a, run_id)
    assert run.error is not None
    assert "no action named 'shop.uninstalled'" in run.error
    assert events == []
    assert loopback.posts == []


async def test_a_failing_step_fails_the_run_with_a_readable_reason(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Loopback
) -> None:
    workflow = await published(db, tenant_a, five_nodes(loopback.url))
    run_id = await accept(db, tenant_a, workflow, {"amount": "lots"})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    run, events = await load(db, tenant_a, run_id)
    assert run.error is not None
    assert run.error.startswith(
        "The expression 'input.amount * 2' in step 'prep' (field input.total) could not be evaluated"
    )
    assert events == [("start", "succeeded"), ("prep", "failed")]


async def test_another_tenant_cannot_see_the_run(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, tenant_b: uuid.UUID, loopback: Loopback
) -> None:
    workflow = await published(db, tenant_a, five_nodes(loopback.url))
    run_id = await accept(db, tenant_a, workflow, {"amount": 99})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    async with db.transaction(DbScope.tenant(tenant_b)) as session:
        with pytest.raises(NotFound):
            await get_run(session, tenant_b, run_id)
        with pytest.raises(NotFound):
            await get_run(session, tenant_a, run_id)  # naming A's id changes nothing under B's binding
        assert await list_runs(session, tenant_b) == []
        assert await list_runs(session, tenant_a) == []
        with pytest.raises(NotFound):
            await start_run(session, SYSTEM, tenant_b, workflow, {"amount": 1})
    # Tenant B's worker cannot execute A's run either.
    assert await queue.runtime.execute_run(tenant_b, run_id) is None
