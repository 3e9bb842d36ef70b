"""Retries and ``on_error`` on the real database: a step's retry policy is applied to retryable
errors (5xx answers) with the same idempotency key, a 4xx is not retried, a step that fails for
good takes its ``on_error`` way or fails the run with a readable reason. Delays are checked by
recording what the compiler asks ``asyncio.sleep`` for, never on the wall clock."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from smeflow.db import Database, DbScope
from smeflow.engine.definitions import parse_definition
from smeflow.engine.run_models import RunEvent
from smeflow.engine.runtime import RunQueue, _compiler, list_events

from .test_runtime import accept, load, published, queue  # noqa: F401  (the fixture)


class Scripted:
    """A local HTTP server answering its POSTs with the scripted statuses, in order (the last one
    repeats), and recording each call."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.calls: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append({"body": body, "key": self.headers.get("Idempotency-Key")})
                status = outer.statuses[min(len(outer.calls), len(outer.statuses)) - 1]
                answer = json.dumps({"n": len(outer.calls)}).encode()
                self.send_response(status)
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
def serve() -> Iterator[Any]:
    servers: list[Scripted] = []

    def start(*statuses: int) -> Scripted:
        server = Scripted(list(statuses))
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the compiler asks for between attempts (it does not really wait)."""
    asked: list[float] = []

    async def sleep(delay: float) -> None:
        asked.append(delay)

    monkeypatch.setattr(_compiler, "asyncio", SimpleNamespace(sleep=sleep))
    return asked


FAST = {"max_attempts": 3, "initial_interval": 0.01, "backoff": 2, "jitter": False}


def calling(url: str, *, retry: dict[str, Any] | None = FAST, on_error: bool = False) -> dict[str, Any]:
    """trigger → http.request (POST) → done; with ``on_error``: call ⇢ note (core.set) → broken
    (an end with outcome failed)."""
    call: dict[str, Any] = {
        "id": "call",
        "kind": "action",
        "config": {"action": "http.request", "input": {"url": url, "method": "POST", "json": {"n": 1}}},
    }
    if retry is not None:
        call["retry"] = retry
    nodes: list[dict[str, Any]] = [
        {"id": "start", "kind": "trigger"},
        call,
        {"id": "done", "kind": "end", "config": {"output": {"status": "nodes.call.status"}}},
    ]
    edges = [{"from": "start", "to": "call"}, {"from": "call", "to": "done"}]
    if on_error:
        call["on_error"] = "note"
        nodes += [
            {
                "id": "note",
                "kind": "action",
                "config": {"action": "core.set", "input": {"handled": True}},
            },
            {
                "id": "broken",
                "kind": "end",
                "config": {"outcome": "failed", "output": {"handled": "vars.handled"}},
            },
        ]
        edges.append({"from": "note", "to": "broken"})
    return {
        "schema_version": 1,
        "name": "Retries",
        "triggers": [{"kind": "manual"}],
        "nodes": nodes,
        "edges": edges,
    }


async def events_of(db: Database, tenant: uuid.UUID, run_id: uuid.UUID) -> list[RunEvent]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return await list_events(session, tenant, run_id)


async def test_a_step_is_retried_until_it_succeeds(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    serve: Any,
    sleeps: list[float],
) -> None:
    server = serve(503, 503, 201)
    workflow = await published(db, tenant_a, calling(server.url))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"

    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"status": 201}
    assert len(server.calls) == 3
    assert {call["key"] for call in server.calls} == {f"{run_id}:call"}  # one key for every attempt
    # Attempts are not events of their own: the step shows once, as it ended.
    assert events == [("start", "succeeded"), ("call", "succeeded"), ("done", "succeeded")]
    call = (await events_of(db, tenant_a, run_id))[1]
    assert call.output == {"status": 201, "body": {"n": 3}}
    assert call.error is None
    assert sleeps == [0.01, 0.02]


async def test_exhausted_retries_take_the_error_way(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    serve: Any,
    sleeps: list[float],
) -> None:
    server = serve(503)
    workflow = await published(db, tenant_a, calling(server.url, on_error=True))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"

    assert len(server.calls) == 3
    run, events = await load(db, tenant_a, run_id)
    assert events == [
        ("start", "succeeded"),
        ("call", "failed"),
        ("note", "succeeded"),
        ("broken", "succeeded"),
    ]
    reason = f"Step 'call': POST {server.url} answered 503 (tried 3 times)"
    assert run.error == "The run ended at the failure step 'broken'"
    assert run.output == {"handled": True}
    failed = (await events_of(db, tenant_a, run_id))[1]
    assert failed.error == reason
    assert sleeps == [0.01, 0.02]


async def test_exhausted_retries_without_an_error_way_fail_the_run(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    serve: Any,
    sleeps: list[float],
) -> None:
    server = serve(503)
    workflow = await published(db, tenant_a, calling(server.url))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"

    assert len(server.calls) == 3
    run, events = await load(db, tenant_a, run_id)
    assert run.error == f"Step 'call': POST {server.url} answered 503 (tried 3 times)"
    assert "Traceback" not in run.error
    assert run.output is None
    assert events == [("start", "succeeded"), ("call", "failed")]


async def test_a_refusal_is_not_retried(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    serve: Any,
    sleeps: list[float],
) -> None:
    server = serve(422, 201)
    workflow = await published(db, tenant_a, calling(server.url, on_error=True))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"

    assert len(server.calls) == 1
    assert sleeps == []
    run, events = await load(db, tenant_a, run_id)
    assert events == [
        ("start", "succeeded"),
        ("call", "failed"),
        ("note", "succeeded"),
        ("broken", "succeeded"),
    ]
    reason = f"Step 'call': POST {server.url} refused the request (422)"
    assert run.output == {"handled": True}
    assert (await events_of(db, tenant_a, run_id))[1].error == reason


async def test_without_a_policy_a_step_is_tried_once(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    serve: Any,
    sleeps: list[float],
) -> None:
    server = serve(503, 201)
    workflow = await published(db, tenant_a, calling(server.url, retry=None))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    assert len(server.calls) == 1
    assert sleeps == []
    run, _ = await load(db, tenant_a, run_id)
    assert run.error == f"Step 'call': POST {server.url} answered 503"


async def test_delays_grow_exponentially_up_to_the_cap(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    serve: Any,
    sleeps: list[float],
) -> None:
    server = serve(503)
    retry = {"max_attempts": 6, "initial_interval": 1, "backoff": 3, "max_interval": 20, "jitter": False}
    workflow = await published(db, tenant_a, calling(server.url, retry=retry))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    assert len(server.calls) == 6
    assert sleeps == [1, 3, 9, 20, 20]


async def test_jitter_spreads_each_delay_around_its_step(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    serve: Any,
    sleeps: list[float],
) -> None:
    server = serve(503)
    retry = {"max_attempts": 5, "initial_interval": 2, "backoff": 2, "max_interval": 10, "jitter": True}
    workflow = await published(db, tenant_a, calling(server.url, retry=retry))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    assert len(sleeps) == 4
    for asked, base in zip(sleeps, [2, 4, 8, 10], strict=True):
        assert 0.5 * base <= asked < 1.5 * base


def test_a_step_that_succeeds_again_no_longer_routes_to_its_error_way() -> None:
    # In a loop (through a wait) a step may fail on one pass and succeed on the next; its success
    # clears the failure (``failed[id] = None``), so the next pass goes on normally.
    definition = parse_definition(calling("http://127.0.0.1:9/x", on_error=True))
    route = _compiler._router(definition, definition.nodes_by_id["call"])
    assert route({"failed": {"call": "Step 'call': no"}}) == ["node_note"]
    assert route({"failed": {"call": None}}) == ["node_done"]
