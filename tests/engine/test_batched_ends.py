"""The runtime's fast paths: run ends recorded together (one audit-head lock for several runs), a
run's job written with the run, a first execution that reads no checkpoint. The chain must verify
and every run must be recorded exactly once, whatever is batched with what."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import psycopg
import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from sqlalchemy import select, text, update

from smeflow.audit import Actor, AuditEvent, verify_chain
from smeflow.db import Database, DbScope
from smeflow.engine.run_models import Run
from smeflow.engine.runtime import (
    HookCall,
    RunQueue,
    Runtime,
    accept_hook,
    cancel_run,
    list_events,
    run_lock,
    start_run,
)
from smeflow.engine.runtime._finishing import Finisher
from smeflow.engine.workflows import create_workflow, publish
from smeflow.settings import Settings

SYSTEM = Actor.system("tests")


def three_steps() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Three steps",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "add", "kind": "action", "config": {"action": "core.set", "input": {"n": "=input.n + 1"}}},
            {"id": "done", "kind": "end", "config": {"output": {"n": "vars.n"}}},
        ],
        "edges": [{"from": "start", "to": "add"}, {"from": "add", "to": "done"}],
    }


async def published(db: Database, tenant: uuid.UUID) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        workflow, problems = await create_workflow(session, SYSTEM, tenant, "Three steps", three_steps())
        assert problems == []
        await publish(session, SYSTEM, tenant, workflow.id)
        return workflow.id


async def accepted(
    db: Database, tenant: uuid.UUID, workflow: uuid.UUID, count: int, queue: RunQueue | None = None
) -> list[uuid.UUID]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return [
            (await start_run(session, SYSTEM, tenant, workflow, {"n": i}, queue=queue)).id
            for i in range(count)
        ]


async def audited(db: Database, tenant: uuid.UUID, action: str) -> list[str]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        rows = await session.execute(
            AuditEvent.__table__.select().where(AuditEvent.tenant_id == tenant, AuditEvent.action == action)
        )
        return sorted(row.target_id for row in rows)


async def test_runs_ending_together_are_each_recorded_once_and_the_chain_verifies(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID, caplog: pytest.LogCaptureFixture
) -> None:
    workflows = {tenant: await published(db, tenant) for tenant in (tenant_a, tenant_b)}
    runs = {tenant: await accepted(db, tenant, workflows[tenant], 12) for tenant in (tenant_a, tenant_b)}
    async with Runtime(db) as runtime:
        statuses = await asyncio.gather(
            *(runtime.execute_run(tenant, run) for tenant, ids in runs.items() for run in ids)
        )
    assert statuses == ["succeeded"] * 24
    assert not [r for r in caplog.records if "one at a time" in r.getMessage()]  # batched, not the fallback
    for tenant, ids in runs.items():
        async with db.transaction(DbScope.tenant(tenant)) as session:
            report = await verify_chain(session, tenant)
            assert report.ok, report.reason
            for index, run_id in enumerate(ids):
                run = (await session.execute(select(Run).where(Run.id == run_id))).scalar_one()
                assert (run.status, run.output, run.finished_at is not None) == (
                    "succeeded",
                    {"n": index + 1},
                    True,
                )
                events = [(e.seq, e.node_id, e.status) for e in await list_events(session, tenant, run_id)]
                assert events == [
                    (1, "start", "succeeded"),
                    (2, "add", "succeeded"),
                    (3, "done", "succeeded"),
                ]
        assert await audited(db, tenant, "run.succeeded") == sorted(str(run) for run in ids)


async def test_a_run_cancelled_before_its_end_is_recorded_stays_cancelled_in_its_batch(
    db: Database, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a)
    kept, cancelled = await accepted(db, tenant_a, workflow, 2)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await cancel_run(session, SYSTEM, tenant_a, cancelled)
    finisher = Finisher(db)
    parents = await asyncio.gather(
        finisher.finish(tenant_a, kept, "succeeded", {"n": 1}, None),
        finisher.finish(tenant_a, cancelled, "succeeded", {"n": 2}, None),
    )
    await finisher.close()
    assert [ended.parent for ended in parents] == [None, None]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await verify_chain(session, tenant_a)).ok
        status = {
            row.id: row.status
            for row in (await session.execute(select(Run).where(Run.tenant_id == tenant_a))).scalars()
        }
    assert status == {kept: "succeeded", cancelled: "cancelled"}
    assert await audited(db, tenant_a, "run.succeeded") == [str(kept)]


async def test_an_accepted_runs_job_commits_with_it_and_not_without_it(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a)
    async with Runtime(db) as runtime, RunQueue(runtime) as queue:
        (run_id,) = await accepted(db, tenant_a, workflow, 1, queue)
        try:
            async with db.transaction(DbScope.tenant(tenant_a)) as session:
                lost = (await start_run(session, SYSTEM, tenant_a, workflow, {"n": 7}, queue=queue)).id
                raise RuntimeError("the accepting transaction fails")
        except RuntimeError:
            pass
        jobs = owner_conn.execute(
            "SELECT lock, status FROM engine.procrastinate_jobs WHERE task_name = 'smeflow.execute_run'"
        ).fetchall()
        assert jobs == [(run_lock(run_id), "todo")]
        assert lost != run_id
        # The transaction's search path is what it was once the job is written.
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            await start_run(session, SYSTEM, tenant_a, workflow, {"n": 8}, queue=queue)
            path = (await session.execute(text("SHOW search_path"))).scalar_one()
            assert "engine" not in path
        await queue.run_worker(wait=False)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        done = [
            row.status
            for row in (await session.execute(select(Run).where(Run.tenant_id == tenant_a))).scalars()
        ]
    assert sorted(done) == ["succeeded", "succeeded"]


async def test_a_first_execution_reads_no_checkpoint_and_a_later_one_does(
    db: Database, tenant_a: uuid.UUID, monkeypatch: Any
) -> None:
    workflow = await published(db, tenant_a)
    (run_id,) = await accepted(db, tenant_a, workflow, 1)
    async with Runtime(db) as runtime:
        reads: list[Any] = []
        original = AsyncPostgresSaver.aget_tuple

        async def counted(self: Any, config: Any) -> Any:
            reads.append(config)
            return await original(self, config)

        monkeypatch.setattr(AsyncPostgresSaver, "aget_tuple", counted)
        assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
        assert reads == []  # the first execution: no query for a checkpoint
        async with db.transaction(DbScope.tenant(tenant_a)) as session:  # as if its end were lost
            await session.execute(update(Run).where(Run.id == run_id).values(status="running"))
        assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
        assert reads  # a later execution reads its checkpoint


async def test_webhook_calls_at_once_store_each_run_with_its_job_and_audit_event(
    db: Database,
    settings: Settings,
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    definition = three_steps() | {
        "name": "Hooked",
        "triggers": [{"kind": "webhook", "secret_required": False}],
    }
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        workflow, problems = await create_workflow(session, SYSTEM, tenant_a, "Hooked", definition)
        assert problems == []
        await publish(session, SYSTEM, tenant_a, workflow.id)
    async with Runtime(db) as runtime, RunQueue(runtime) as queue:
        calls = [HookCall("alpha", "Hooked", orjson.dumps({"n": i})) for i in range(15)]
        results = await asyncio.gather(*(accept_hook(db, settings, call, queue=queue) for call in calls))
        assert all(result.created and result.status == "queued" for result in results)
        ids = [result.run_id for result in results]
        assert len(set(ids)) == 15
        jobs = owner_conn.execute(
            "SELECT args->>'run_id', lock, queueing_lock FROM engine.procrastinate_jobs"
            " WHERE task_name = 'smeflow.execute_run' AND status = 'todo'"
        ).fetchall()
        assert sorted(jobs) == sorted((str(i), run_lock(i), run_lock(i)) for i in ids)
        await queue.run_worker(wait=False)
    assert not [r for r in caplog.records if "one at a time" in r.getMessage()]  # batched, not the fallback
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await verify_chain(session, tenant_a)).ok
        runs = {run.id: run for run in (await session.execute(select(Run))).scalars()}
        started = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "run.started"))
        ).scalars()
        data = {event.target_id: event.data for event in started}
    assert {run_id: (runs[run_id].status, runs[run_id].input) for run_id in ids} == {
        run_id: ("succeeded", {"n": i}) for i, run_id in enumerate(ids)
    }
    assert data == {
        str(run_id): {
            "workflow_id": str(workflow.id),
            "version": 1,
            "created_by": "webhook:unsigned",
            "trigger": "webhook",
            "idempotency_key": None,
        }
        for run_id in ids
    }


async def test_a_pipelined_transaction_that_fails_leaves_nothing_and_its_connection_as_it_was(
    db: Database, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a)
    (run_id,) = await accepted(db, tenant_a, workflow, 1)
    move = "UPDATE runs SET status = 'failed' WHERE tenant_id = %(tenant)s AND id = %(run)s"
    scope = DbScope.tenant(tenant_a)

    async def raising_block() -> None:
        async with db.pipeline(scope) as conn:
            await conn.execute(move, {"tenant": tenant_a, "run": run_id})
            raise RuntimeError("the block fails")

    async def failing_statement() -> None:
        async with db.pipeline(scope) as conn:
            await conn.execute(move, {"tenant": tenant_a, "run": run_id})
            await (await conn.execute("SELECT 1 / 0")).fetchone()

    async def raising_orm_block() -> None:  # rolled back: the connection is not left in autocommit
        async with db.transaction(scope) as session:
            await session.execute(update(Run).where(Run.id == run_id).values(status="failed"))
            raise RuntimeError("the ORM block fails")

    for _ in range(3):  # the pool's connections, one after the other
        with pytest.raises(RuntimeError):
            await raising_block()
        with pytest.raises(psycopg.errors.DivisionByZero):
            await failing_statement()
        with pytest.raises(RuntimeError):
            await raising_orm_block()
    async with db.transaction(scope) as session:
        assert (await session.execute(select(Run.status).where(Run.id == run_id))).scalar_one() == "queued"
