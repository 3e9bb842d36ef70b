"""Durable wait steps on the real database: a wait of 2 s survives a worker restart (real worker
processes), an early job leaves the run waiting, ``until`` in the past goes straight on, a time
without an offset fails the run with a readable reason, a lost wake-up is found by the sweeper."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import URL

from smeflow.db import Database, to_libpq
from smeflow.engine.runtime import RunQueue

from .test_runtime import accept, load, published, queue  # noqa: F401  (the queue fixture)


def waiting_flow(wait: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Reminder",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "pause", "kind": "wait", "config": wait},
            {"id": "done", "kind": "end", "config": {"output": {"due": "nodes.pause.due"}}},
        ],
        "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "done"}],
    }


def worker_env(clean_db: URL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMEFLOW_")}
    return env | {
        "SMEFLOW_ENV": "test",
        "SMEFLOW_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        "SMEFLOW_SECRET_KEY": "worker-test-secret-0123456789abcdef0123456789",
        "SMEFLOW_DATABASE_URL": to_libpq(clean_db),
        "SMEFLOW_LOG_LEVEL": "WARNING",
    }


async def until_status(db: Database, tenant: uuid.UUID, run_id: uuid.UUID, wanted: set[str]) -> Any:
    for _ in range(600):  # a minute at most
        run, events = await load(db, tenant, run_id)
        if run.status in wanted:
            return run, events
        await asyncio.sleep(0.1)
    raise AssertionError(f"run stayed {run.status}")


async def test_a_wait_fires_after_a_worker_restart(db: Database, clean_db: URL, tenant_a: uuid.UUID) -> None:
    workflow = await published(db, tenant_a, waiting_flow({"duration": 2}))
    run_id = await accept(db, tenant_a, workflow, {})  # found by the sweeper
    env = worker_env(clean_db)
    workers = []
    try:
        first = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smeflow", "worker", env=env, stdout=asyncio.subprocess.DEVNULL
        )
        workers.append(first)
        run, events = await until_status(db, tenant_a, run_id, {"waiting", "succeeded", "failed"})
        assert run.status == "waiting"
        assert events == [("start", "succeeded"), ("pause", "waiting")]
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), timeout=30) in (0, 128 + signal.SIGTERM)
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smeflow", "worker", env=env, stdout=asyncio.subprocess.DEVNULL
        )
        workers.append(second)
        run, events = await until_status(db, tenant_a, run_id, {"succeeded", "failed"})
        assert (run.status, run.error) == ("succeeded", None)
        assert events == [
            ("start", "succeeded"),
            ("pause", "waiting"),
            ("pause", "succeeded"),
            ("done", "succeeded"),
        ]
        assert run.finished_at is not None
        assert run.finished_at >= datetime.fromisoformat(run.output["due"])
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


async def wake_jobs(run_queue: RunQueue, run_id: uuid.UUID) -> list[dict[str, Any]]:
    return await run_queue.app.connector.execute_query_all_async(
        "SELECT scheduled_at, queueing_lock FROM procrastinate_jobs"
        " WHERE lock = %(lock)s AND status = 'todo' ORDER BY id",
        lock=f"run:{run_id}",
    )


async def test_a_run_woken_early_keeps_waiting(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    workflow = await published(db, tenant_a, waiting_flow({"duration": "PT1H"}))
    run_id = await accept(db, tenant_a, workflow, {}, queue)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)
    run, events = await load(db, tenant_a, run_id)
    assert run.status == "waiting"
    assert events == [("start", "succeeded"), ("pause", "waiting")]
    jobs = await wake_jobs(queue, run_id)
    assert [job["queueing_lock"] for job in jobs] == [f"wake:{run_id}"]
    due = jobs[0]["scheduled_at"]
    assert due > datetime.now(UTC) + timedelta(minutes=50)

    # stray jobs: the run stays waiting, keeps its first due time and one wake-up
    for _ in range(2):
        await queue.defer_run(tenant_a, run_id)
        await queue.run_worker(wait=False)
        run, events = await load(db, tenant_a, run_id)
        assert run.status == "waiting"
        assert events == [("start", "succeeded"), ("pause", "waiting")]
        assert [job["scheduled_at"] for job in await wake_jobs(queue, run_id)] == [due]
    assert await queue.sweep() == 0  # it has its wake-up: nothing stranded


async def test_a_lost_wake_up_is_found_by_the_sweeper(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    workflow = await published(db, tenant_a, waiting_flow({"duration": "PT1H"}))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "waiting"  # no queue: no wake-up
    assert await wake_jobs(queue, run_id) == []
    assert await queue.sweep() == 1
    await queue.run_worker(wait=False)  # early: schedules the wake-up again
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "waiting"
    assert [job["queueing_lock"] for job in await wake_jobs(queue, run_id)] == [f"wake:{run_id}"]
    assert await queue.sweep() == 0


async def test_until_in_the_past_goes_straight_on(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    workflow = await published(db, tenant_a, waiting_flow({"until": "input.at"}))
    run_id = await accept(db, tenant_a, workflow, {"at": "2020-01-01T09:00:00+03:00"})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"due": "2020-01-01T06:00:00+00:00"}
    assert events == [("start", "succeeded"), ("pause", "succeeded"), ("done", "succeeded")]


async def test_until_in_the_future_waits_until_then(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    workflow = await published(db, tenant_a, waiting_flow({"until": "input.at"}))
    at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    run_id = await accept(db, tenant_a, workflow, {"at": at.isoformat().replace("+00:00", "Z")}, queue)
    await queue.wait_deferred()
    await queue.run_worker(wait=False)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "waiting"
    assert [job["scheduled_at"] for job in await wake_jobs(queue, run_id)] == [at]


async def test_a_naive_until_fails_the_run_readably(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    workflow = await published(db, tenant_a, waiting_flow({"until": "input.at"}))
    run_id = await accept(db, tenant_a, workflow, {"at": "2030-01-01T09:00:00"})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    run, events = await load(db, tenant_a, run_id)
    assert run.error is not None
    assert "Step 'pause'" in run.error
    assert "has no UTC offset" in run.error
    assert events == [("start", "succeeded"), ("pause", "failed")]
