"""Run control on the real database: cancel, pause, resume, retry from the failed step; a running
run stops at its next step boundary (heard through LISTEN/NOTIFY); a paused run stays paused when
its approval is decided or its wait is due; the sweeper leaves paused and cancelled runs alone and
gives up on a run that keeps losing its job; an ``on_error`` branch reads why a step failed.

Side effects are counted at a loopback provider (see ``provider.py``); a running run is caught
mid-step by holding its call there, never by timing."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest

from smeflow.audit import Actor
from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.run_models import Run
from smeflow.engine.runtime import (
    MAX_JOBS_PER_RUN,
    RunQueue,
    Runtime,
    cancel_run,
    decide,
    list_approvals,
    pause_run,
    resume_run,
    retry_run,
    thread_id,
)
from smeflow.errors import Conflict, NotFound

from .provider import Provider, provider
from .test_runtime import accept, load, published

ADMIN = Actor("user", "0190a5f0-0000-7000-8000-00000000ad01")
DEADLINE = 60.0  # seconds: generous, never reached when things work


def calling(url: str, *paths: str, after: bool = False) -> dict[str, Any]:
    """trigger → one ``http.request`` POST per path, in a line (→ ``after``, a core.set) → done,
    whose output has each call's status."""
    nodes: list[dict[str, Any]] = [{"id": "start", "kind": "trigger"}]
    for path in paths:
        body = {"group": "=input.group", "meet": "=input.group", "n": "=input.n"}
        nodes.append(
            {
                "id": path,
                "kind": "action",
                "config": {
                    "action": "http.request",
                    "input": {"url": f"{url}/{path}", "method": "POST", "json": body},
                },
            }
        )
    if after:
        nodes.append({"id": "after", "kind": "action", "config": {"action": "core.set", "input": {"x": 1}}})
    output = {path: f"nodes.{path}.status" for path in paths}
    nodes.append({"id": "done", "kind": "end", "config": {"output": output}})
    line = [node["id"] for node in nodes]
    return {
        "schema_version": 1,
        "name": "Calls " + " ".join(paths),
        "triggers": [{"kind": "manual"}],
        "nodes": nodes,
        "edges": [{"from": a, "to": b} for a, b in itertools.pairwise(line)],
    }


def approving(durability: str = "exit") -> dict[str, Any]:
    """trigger → ask (approval, staff) → done (output: the decision)."""
    return {
        "schema_version": 1,
        "name": "Approve",
        "durability": durability,
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "ask", "kind": "approval", "config": {"title": "May we?", "role": "staff"}},
            {"id": "done", "kind": "end", "config": {"output": {"outcome": "nodes.ask.outcome"}}},
        ],
        "edges": [{"from": "start", "to": "ask"}, {"from": "ask", "to": "done"}],
    }


def waiting(seconds: float) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Wait",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "pause", "kind": "wait", "config": {"duration": seconds}},
            {"id": "done", "kind": "end", "config": {"output": {"woke": "nodes.pause.woke_at"}}},
        ],
        "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "done"}],
    }


async def until(check: Callable[[], Any], what: str) -> None:
    """Poll ``check()`` (sync or async) until it is true; fail after :data:`DEADLINE`."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + DEADLINE
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > give_up:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def working(run_queue: RunQueue, concurrency: int = 10) -> AsyncIterator[None]:
    """A real procrastinate worker executing jobs in the background while the block runs."""
    worker = asyncio.create_task(run_queue.run_worker(concurrency=concurrency))
    try:
        yield
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def control(
    db: Database,
    tenant: uuid.UUID,
    run_id: uuid.UUID,
    action: Callable[..., Awaitable[Run]],
    run_queue: RunQueue | None = None,
) -> Run:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return await action(session, ADMIN, tenant, run_id, queue=run_queue)


def checkpoints(owner_conn: psycopg.Connection, tenant: uuid.UUID, run_id: uuid.UUID) -> int:
    row = owner_conn.execute(
        "SELECT count(*) FROM engine.checkpoints WHERE thread_id = %s", (thread_id(tenant, run_id),)
    ).fetchone()
    assert row is not None
    return int(row[0])


def audited(owner_conn: psycopg.Connection, run_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = owner_conn.execute(
        "SELECT action, actor_type FROM audit_events WHERE target_id = %s ORDER BY seq", (str(run_id),)
    )
    return [(row[0], row[1]) for row in rows.fetchall()]


@pytest.fixture
def loopback() -> Iterator[Provider]:
    with provider() as server:
        yield server


@pytest.fixture
async def queue(db: Database) -> AsyncIterator[RunQueue]:
    async with Runtime(db, allow_private_networks=True) as runtime, RunQueue(runtime) as run_queue:
        yield run_queue


async def jobs_sql(run_queue: RunQueue, sql: str, **params: Any) -> list[dict[str, Any]]:
    """A query on the job queue's tables (behind procrastinate's back, as a dead worker leaves them)."""
    return await run_queue.app.connector.execute_query_all_async(sql, **params)


async def test_a_queued_run_is_cancelled_at_once(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, calling(loopback.url, "call"))
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 1}, queue)
    await queue.wait_deferred()
    run = await control(db, tenant_a, run_id, cancel_run, queue)
    assert (run.status, run.stop_request, run.stopped_by) == ("cancelled", None, "user:" + ADMIN.id)
    assert run.error is not None
    assert run.error.startswith(f"Cancelled by user:{ADMIN.id} at 20")
    assert run.finished_at is not None
    await queue.wait_deferred()
    await queue.run_worker(wait=False)  # its job finds it cancelled
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, events, loopback.calls) == ("cancelled", [], [])
    assert audited(owner_conn, run_id)[-1] == ("run.cancelled", "user")

    with pytest.raises(Conflict) as refused:
        await control(db, tenant_a, run_id, cancel_run)
    assert refused.value.message.startswith("The run has already ended (cancelled)")
    for action in (pause_run, resume_run, retry_run):
        with pytest.raises(Conflict):
            await control(db, tenant_a, run_id, action)


async def test_a_waiting_run_is_cancelled_at_once_and_its_approval_closed(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, approving("sync"))  # a checkpoint per step
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "waiting"
    assert checkpoints(owner_conn, tenant_a, run_id) > 1
    await control(db, tenant_a, run_id, cancel_run)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        (approval,) = await list_approvals(session, tenant_a, run_id=run_id)
        assert (approval.status, approval.outcome, approval.decided_by) == (
            "cancelled",
            None,
            "user:" + ADMIN.id,
        )
        with pytest.raises(Conflict):
            await decide(session, ADMIN, tenant_a, approval.id, "approve")
    # a job still on its way finds it finished: nothing runs, only the last checkpoint is kept
    assert await queue.runtime.execute_run(tenant_a, run_id) is None
    run, events = await load(db, tenant_a, run_id)
    assert run.status == "cancelled"
    assert events == [("start", "succeeded"), ("ask", "waiting")]
    assert checkpoints(owner_conn, tenant_a, run_id) == 1


async def test_the_wake_up_of_a_cancelled_run_does_nothing(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a, waiting(3600))
    run_id = await accept(db, tenant_a, workflow, {}, queue)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)
    assert (await load(db, tenant_a, run_id))[0].status == "waiting"
    await control(db, tenant_a, run_id, cancel_run, queue)
    await queue.wait_deferred()
    # its wake-up job, scheduled an hour ahead, comes due (moved, not waited for)
    woken = await jobs_sql(
        queue,
        "UPDATE procrastinate_jobs SET scheduled_at = now() WHERE queueing_lock = %(wake)s RETURNING id",
        wake=f"wake:{run_id}",
    )
    assert len(woken) == 1
    await queue.run_worker(wait=False)  # the job the cancel deferred (it goes before a wake-up)…
    await queue.run_worker(wait=False)  # …then the wake-up
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, events) == ("cancelled", [("start", "succeeded"), ("pause", "waiting")])
    left = await jobs_sql(queue, "SELECT id FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
    assert left == []


async def test_a_running_run_is_cancelled_at_its_next_step(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, calling(loopback.url, "slow", after=True))
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 1})
    loopback.hold("/slow")
    runtime = queue.runtime
    executing = asyncio.create_task(runtime.execute(tenant_a, run_id))
    await until(lambda: loopback.to("/slow"), "the slow call")

    asked = await control(db, tenant_a, run_id, cancel_run)
    assert (asked.status, asked.stop_request) == ("running", "cancel")
    assert (await control(db, tenant_a, run_id, cancel_run)).stop_request == "cancel"  # asked once
    with pytest.raises(Conflict):
        await control(db, tenant_a, run_id, pause_run)  # being cancelled
    await until(lambda: runtime.stops.flagged(run_id), "the worker to hear of it")
    loopback.release("/slow")
    executed = await executing

    assert executed.status == "cancelled"
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.stop_request) == ("cancelled", None)
    assert run.error is not None
    assert run.error.startswith(f"Cancelled by user:{ADMIN.id} at ")
    assert events == [("start", "succeeded"), ("slow", "succeeded")]  # the step in flight finished
    assert len(loopback.to("/slow")) == 1
    assert audited(owner_conn, run_id)[-2:] == [
        ("run.cancel_requested", "user"),
        ("run.cancelled", "workflow_run"),
    ]
    assert checkpoints(owner_conn, tenant_a, run_id) == 1


async def test_a_stop_asked_while_no_worker_ran_it_applies_when_it_is_claimed(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, calling(loopback.url, "call"))
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 1})
    owner_conn.execute("UPDATE runs SET status = 'running' WHERE id = %s", (run_id,))  # its worker died
    await control(db, tenant_a, run_id, pause_run)
    assert (await queue.runtime.execute(tenant_a, run_id)).status == "paused"
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.stop_request, events, loopback.calls) == ("paused", None, [], [])


async def test_a_running_run_pauses_at_its_next_step_and_resumes_from_there(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, calling(loopback.url, "slow", "next"))
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 1})
    loopback.hold("/slow")
    runtime = queue.runtime
    executing = asyncio.create_task(runtime.execute(tenant_a, run_id))
    await until(lambda: loopback.to("/slow"), "the slow call")
    assert (await control(db, tenant_a, run_id, pause_run)).stop_request == "pause"
    with pytest.raises(Conflict) as refused:
        await control(db, tenant_a, run_id, resume_run)
    assert "pausing" in refused.value.message
    await until(lambda: runtime.stops.flagged(run_id), "the worker to hear of it")
    loopback.release("/slow")
    assert (await executing).status == "paused"  # the job ends without failing

    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.finished_at, run.stopped_by) == ("paused", None, "user:" + ADMIN.id)
    assert events == [("start", "succeeded"), ("slow", "succeeded")]
    assert await queue.sweep() == 0  # nothing for the sweeper: it stays paused
    with pytest.raises(Conflict):
        await control(db, tenant_a, run_id, pause_run)

    resumed = await control(db, tenant_a, run_id, resume_run, queue)
    assert (resumed.status, resumed.stopped_by) == ("queued", None)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.output) == ("succeeded", {"slow": 200, "next": 200})
    assert events == [
        ("start", "succeeded"),
        ("slow", "succeeded"),
        ("next", "succeeded"),
        ("done", "succeeded"),
    ]
    assert [len(loopback.to(path)) for path in ("/slow", "/next")] == [1, 1]
    assert [action for action, _ in audited(owner_conn, run_id)] == [
        "run.started",
        "run.pause_requested",
        "run.paused",
        "run.resumed",
        "run.succeeded",
    ]


async def test_a_paused_run_stays_paused_when_its_approval_is_decided(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a, approving())
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "waiting"
    assert (await control(db, tenant_a, run_id, pause_run)).status == "paused"
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        (approval,) = await list_approvals(session, tenant_a, run_id=run_id)
        await decide(session, ADMIN, tenant_a, approval.id, "approve", "fine", queue=queue)
    await queue.wait_deferred()
    jobs = await queue.app.connector.execute_query_all_async(
        "SELECT id FROM procrastinate_jobs WHERE lock = %(lock)s AND status = 'todo'", lock=f"run:{run_id}"
    )
    assert jobs == []  # the decision queued nothing
    assert await queue.runtime.execute_run(tenant_a, run_id) is None  # a stray job changes nothing
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "paused"

    await control(db, tenant_a, run_id, resume_run, queue)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.output) == ("succeeded", {"outcome": "approved"})
    assert events[-2:] == [("ask", "succeeded"), ("done", "succeeded")]


async def test_a_paused_run_stays_paused_when_its_wait_is_due(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a, waiting(1))
    run_id = await accept(db, tenant_a, workflow, {})
    executed = await queue.runtime.execute(tenant_a, run_id)
    assert executed.status == "waiting"
    assert executed.wake_at is not None
    assert (await control(db, tenant_a, run_id, pause_run)).status == "paused"
    due = executed.wake_at
    await until(lambda: utcnow() > due, "the wait to be due")
    assert await queue.runtime.execute_run(tenant_a, run_id) is None  # its wake-up changes nothing
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, events) == ("paused", [("start", "succeeded"), ("pause", "waiting")])

    await control(db, tenant_a, run_id, resume_run)
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    run, events = await load(db, tenant_a, run_id)
    assert events[-2:] == [("pause", "succeeded"), ("done", "succeeded")]


async def test_a_failed_run_is_retried_from_its_failed_step(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider, owner_conn: psycopg.Connection
) -> None:
    loopback.script("/second", 400, 200)  # refused the first time, accepted after the retry
    workflow = await published(db, tenant_a, calling(loopback.url, "first", "second"))
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 7})
    with pytest.raises(Conflict) as refused:
        await control(db, tenant_a, run_id, retry_run)
    assert refused.value.message == "Only a failed run can be retried; this one is queued"

    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    run, _ = await load(db, tenant_a, run_id)
    assert run.error is not None
    assert run.error.startswith("Step 'second': POST ")
    assert run.error.endswith("refused the request (400)")
    # the end of the run pruned its checkpoints: the one kept is the one before the failed step
    assert checkpoints(owner_conn, tenant_a, run_id) == 1

    retried = await control(db, tenant_a, run_id, retry_run, queue)
    assert (retried.status, retried.error, retried.finished_at) == ("queued", None, None)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)

    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.error, run.output) == ("succeeded", None, {"first": 200, "second": 200})
    assert events == [
        ("start", "succeeded"),
        ("first", "succeeded"),
        ("second", "failed"),
        ("second", "succeeded"),
        ("done", "succeeded"),
    ]
    first, second = loopback.to("/first"), loopback.to("/second")
    assert len(first) == 1  # the write before the failed step was not made again
    assert [call["key"] for call in second] == [f"{run_id}:second"] * 2
    assert ("run.retried", "user") in audited(owner_conn, run_id)


async def test_an_error_branch_reads_why_the_step_failed(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider
) -> None:
    loopback.script("/pay", 402)
    definition = calling(loopback.url, "pay")
    definition["nodes"][1]["on_error"] = "note"
    definition["nodes"] += [
        {
            "id": "note",
            "kind": "action",
            "config": {
                "action": "core.set",
                "input": {"why": "=failed.pay", "other": "=has(failed.start) ? 'yes' : 'no'"},
            },
        },
        {
            "id": "sorry",
            "kind": "end",
            "config": {"outcome": "failed", "output": {"why": "vars.why", "other": "vars.other"}},
        },
    ]
    definition["edges"].append({"from": "note", "to": "sorry"})
    workflow = await published(db, tenant_a, definition)
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 1})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    run, _ = await load(db, tenant_a, run_id)
    assert run.output == {
        "why": f"Step 'pay': POST {loopback.url}/pay refused the request (402)",
        "other": "no",
    }
    assert run.error == "The run ended at the failure step 'sorry'"


async def test_the_sweeper_leaves_paused_and_cancelled_runs_alone(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, calling(loopback.url, "call"))
    paused = await accept(db, tenant_a, workflow, {"group": "a", "n": 1})
    cancelled = await accept(db, tenant_a, workflow, {"group": "a", "n": 2})
    await control(db, tenant_a, paused, pause_run)
    await control(db, tenant_a, cancelled, cancel_run)
    owner_conn.execute("UPDATE runs SET created_at = created_at - interval '1 hour'")
    assert await queue.sweep() == 0
    jobs = owner_conn.execute(
        "SELECT count(*) FROM engine.procrastinate_jobs WHERE task_name = 'smeflow.execute_run'"
    )
    assert jobs.fetchone() == (0,)
    with pytest.raises(NotFound):
        await control(db, tenant_a, uuid.uuid4(), cancel_run)


async def test_a_run_that_keeps_losing_its_job_is_failed(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider, owner_conn: psycopg.Connection
) -> None:
    """A worker dying with the run every time (simulated: the job row is put back to ``doing``
    with no live worker, the way procrastinate sees a dead worker's job), or its job failing:
    both count, and the ``MAX_JOBS_PER_RUN``-th take-over fails the run."""
    workflow = await published(db, tenant_a, calling(loopback.url, "call"))
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 1})
    owner_conn.execute("UPDATE runs SET status = 'running' WHERE id = %s", (run_id,))
    lock = f"run:{run_id}"

    async def dies(status: str = "doing") -> None:  # the run's newest job is taken, its worker dies
        await jobs_sql(
            queue,
            "UPDATE procrastinate_jobs SET status = %(status)s, worker_id = NULL"
            " WHERE id = (SELECT max(id) FROM procrastinate_jobs WHERE lock = %(lock)s) RETURNING id",
            status=status,
            lock=lock,
        )

    async def jobs() -> list[tuple[str, int]]:
        rows = await jobs_sql(
            queue,
            "SELECT status::text, attempts FROM procrastinate_jobs WHERE lock = %(lock)s ORDER BY id",
            lock=lock,
        )
        return [(row["status"], row["attempts"]) for row in rows]

    await queue.defer_run(tenant_a, run_id)
    for taken_over in range(1, MAX_JOBS_PER_RUN):
        if taken_over == 2:
            await dies("failed")  # a job that failed is a take-over too (a new job)
            assert await queue.requeue_abandoned_runs() == 1
        else:
            await dies()
            assert await queue.retry_stalled_jobs() == 1  # the same job, back to todo
        run, _ = await load(db, tenant_a, run_id)
        assert (run.status, run.recoveries) == ("running", taken_over)
        assert (await jobs())[-1][0] == "todo"
    assert await jobs() == [("failed", 1), ("todo", 2)]  # attempts: the stalled job retried as itself

    await dies()
    assert await queue.retry_stalled_jobs() == 1
    run, _ = await load(db, tenant_a, run_id)
    assert (run.status, run.error) == (
        "failed",
        "The run stopped because of an internal error; the operator has been told",
    )
    assert (await jobs())[-1][0] == "failed"
    assert await queue.sweep() == 0  # given up for good
    assert loopback.calls == []

    # a retry by a person starts the count again
    retried = await control(db, tenant_a, run_id, retry_run)
    assert (retried.status, retried.recoveries) == ("queued", 0)


async def test_a_stalled_job_whose_run_has_another_job_waiting_is_failed(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, loopback: Provider, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, calling(loopback.url, "call"))
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 1})
    await queue.defer_run(tenant_a, run_id)
    await jobs_sql(queue, "UPDATE procrastinate_jobs SET status = 'doing' RETURNING id")  # its worker died…
    await queue.defer_run(tenant_a, run_id)  # …after the run was queued again (a decision, a kick)
    assert await queue.retry_stalled_jobs() == 1
    rows = await jobs_sql(queue, "SELECT status::text FROM procrastinate_jobs ORDER BY id")
    assert [row["status"] for row in rows] == ["failed", "todo"]  # the waiting job executes the run
    await queue.run_worker(wait=False)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "succeeded"


async def test_another_tenant_cannot_control_the_run(
    db: Database, queue: RunQueue, tenant_a: uuid.UUID, tenant_b: uuid.UUID, loopback: Provider
) -> None:
    workflow = await published(db, tenant_a, calling(loopback.url, "call"))
    run_id = await accept(db, tenant_a, workflow, {"group": "a", "n": 1})
    for action in (cancel_run, pause_run, resume_run, retry_run):
        with pytest.raises(NotFound):
            await control(db, tenant_b, run_id, action)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "queued"
