"""Sub-workflow steps on the real database, through real procrastinate workers: a child run of
another workflow, its output given on; its failure failing the step (or taking ``on_error``); one
child per step however often the step is executed; what cannot be run (unknown workflow, no
published version, another tenant's workflow, endless nesting) failing the step readably; a
workflow naming itself refused at publish and compile time; the sweeper leaving parents alone."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from smeflow.db import Database, DbScope
from smeflow.engine.definitions import parse_definition
from smeflow.engine.run_models import Run
from smeflow.engine.runtime import RunQueue, UnsupportedNode, build_graph, default_actions, thread_id
from smeflow.engine.workflows import create_workflow, publish, update_draft
from smeflow.errors import ValidationFailed

from .test_events import drain, emit
from .test_runtime import SYSTEM, accept, load, published, queue  # noqa: F401  (the queue fixture)


def parent(workflow: str, *, version: int | str = "latest", on_error: bool = False) -> dict[str, Any]:
    """trigger → sub-workflow ``workflow`` (given twice the input's amount) → end with its total."""
    sub: dict[str, Any] = {
        "id": "sub",
        "kind": "subworkflow",
        "config": {"workflow": workflow, "version": version, "input": {"amount": "=input.amount * 2"}},
    }
    nodes = [
        {"id": "start", "kind": "trigger"},
        sub,
        {"id": "done", "kind": "end", "config": {"output": {"total": "nodes.sub.total"}}},
    ]
    if on_error:
        sub["on_error"] = "fallback"
        nodes.append({"id": "fallback", "kind": "end", "config": {"output": {"fell_back": "true"}}})
    return {
        "schema_version": 1,
        "name": "Parent",
        "triggers": [{"kind": "manual"}],
        "nodes": nodes,
        "edges": [{"from": "start", "to": "sub"}, {"from": "sub", "to": "done"}],
    }


def child(name: str = "Child", *, extra: int | str = 1) -> dict[str, Any]:
    """trigger → end: the total is the input's amount plus ``extra`` (CEL: one that cannot be
    evaluated fails the run)."""
    return {
        "schema_version": 1,
        "name": name,
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "add",
                "kind": "action",
                "config": {"action": "core.set", "input": {"total": f"=input.amount + {extra}"}},
            },
            {"id": "done", "kind": "end", "config": {"output": {"total": "vars.total"}}},
        ],
        "edges": [{"from": "start", "to": "add"}, {"from": "add", "to": "done"}],
    }


def calling(name: str, other: str) -> dict[str, Any]:
    """trigger → sub-workflow ``other`` → end."""
    definition = parent(other)
    definition["name"] = name
    definition["nodes"][1]["config"]["input"] = {"amount": "=input.amount"}
    return definition


async def children(db: Database, tenant: uuid.UUID, run_id: uuid.UUID) -> list[Run]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        query = select(Run).where(Run.tenant_id == tenant, Run.parent_run_id == run_id)
        return list((await session.execute(query)).scalars())


async def test_a_sub_workflow_runs_and_its_output_goes_on(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    child_workflow = await published(db, tenant_a, child())
    workflow = await published(db, tenant_a, parent("Child"))
    run_id = await accept(db, tenant_a, workflow, {"amount": 20}, queue)
    await drain(queue)

    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.error, run.output) == ("succeeded", None, {"total": 41})
    assert events == [("start", "succeeded"), ("sub", "waiting"), ("sub", "succeeded"), ("done", "succeeded")]
    (sub,) = await children(db, tenant_a, run_id)
    assert (sub.workflow_id, sub.version, sub.status) == (child_workflow, 1, "succeeded")
    assert (sub.input, sub.output) == ({"amount": 40}, {"total": 41})
    assert (sub.created_by, sub.parent_node_id) == (f"run:{run_id}", "sub")
    _, child_events = await load(db, tenant_a, sub.id)
    assert child_events == [("start", "succeeded"), ("add", "succeeded"), ("done", "succeeded")]


async def test_a_sub_workflow_by_id_and_version(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    child_workflow = await published(db, tenant_a, child())
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await update_draft(session, SYSTEM, tenant_a, child_workflow, definition=child(extra=1000))
        await publish(session, SYSTEM, tenant_a, child_workflow)
    first = await published(db, tenant_a, parent(str(child_workflow), version=1))
    latest = await published(db, tenant_a, {**parent(str(child_workflow)), "name": "Latest"})
    first_run = await accept(db, tenant_a, first, {"amount": 1}, queue)
    latest_run = await accept(db, tenant_a, latest, {"amount": 1}, queue)
    await drain(queue)
    assert (await load(db, tenant_a, first_run))[0].output == {"total": 3}
    assert (await load(db, tenant_a, latest_run))[0].output == {"total": 1002}
    assert [c.version for c in await children(db, tenant_a, latest_run)] == [2]


async def test_a_failed_child_fails_the_step(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    await published(db, tenant_a, child(extra="input.bonus"))  # the input has no bonus
    strict = await published(db, tenant_a, parent("Child"))
    lenient = await published(db, tenant_a, {**parent("Child", on_error=True), "name": "Lenient"})
    strict_run = await accept(db, tenant_a, strict, {"amount": 1}, queue)
    lenient_run = await accept(db, tenant_a, lenient, {"amount": 1}, queue)
    await drain(queue)

    (sub,) = await children(db, tenant_a, strict_run)
    assert sub.status == "failed"
    assert sub.error is not None
    reason = f"Step 'sub': the sub-workflow 'Child' failed: {sub.error}"
    run, events = await load(db, tenant_a, strict_run)
    assert (run.status, run.error) == ("failed", reason)
    assert events == [("start", "succeeded"), ("sub", "waiting"), ("sub", "failed")]
    run, events = await load(db, tenant_a, lenient_run)
    assert (run.status, run.output) == ("succeeded", {"fell_back": True})
    assert events[-2:] == [("sub", "failed"), ("fallback", "succeeded")]


async def test_a_cancelled_child_fails_the_step(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    waiting_child = {
        "schema_version": 1,
        "name": "Slow",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "pay", "kind": "wait", "config": {"event": {"name": "payment.succeeded"}}},
            {"id": "done", "kind": "end"},
        ],
        "edges": [{"from": "start", "to": "pay"}, {"from": "pay", "to": "done"}],
    }
    await published(db, tenant_a, waiting_child)
    workflow = await published(db, tenant_a, parent("Slow"))
    run_id = await accept(db, tenant_a, workflow, {"amount": 1}, queue)
    await drain(queue)
    (sub,) = await children(db, tenant_a, run_id)
    assert sub.status == "waiting"
    assert await queue.sweep() == 0  # the parent waits for a child, the child for an event: no timer
    assert await queue.runtime.waiting_without_approval() == []

    # ended by a person (run control): the parent is queued in the same transaction
    assert await queue.runtime._finish(tenant_a, sub.id, "cancelled", None, "Cancelled by a person") == run_id
    assert (await load(db, tenant_a, run_id))[0].status == "queued"
    await queue.defer_run(tenant_a, run_id)
    await drain(queue)
    run, _ = await load(db, tenant_a, run_id)
    assert (run.status, run.error) == (
        "failed",
        "Step 'sub': the run of the sub-workflow 'Slow' was cancelled",
    )


async def test_a_child_waiting_for_an_event_resumes_its_parent_when_it_ends(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    definition = {
        "schema_version": 1,
        "name": "Pay",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "paid",
                "kind": "wait",
                "config": {"event": {"name": "payment.succeeded", "match": "event.amount == input.amount"}},
            },
            {"id": "done", "kind": "end", "config": {"output": {"total": "nodes.paid.event.payload.amount"}}},
        ],
        "edges": [{"from": "start", "to": "paid"}, {"from": "paid", "to": "done"}],
    }
    await published(db, tenant_a, definition)
    workflow = await published(db, tenant_a, parent("Pay"))
    run_id = await accept(db, tenant_a, workflow, {"amount": 500}, queue)
    await drain(queue)
    emitted = await emit(db, tenant_a, "payment.succeeded", {"amount": 1000}, queue)
    (sub,) = await children(db, tenant_a, run_id)
    assert emitted.resumed == [sub.id]
    await drain(queue)
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.output) == ("succeeded", {"total": 1000})
    assert events[-2:] == [("sub", "succeeded"), ("done", "succeeded")]


async def test_a_step_executed_again_does_not_start_a_second_child(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    await published(db, tenant_a, child())
    workflow = await published(db, tenant_a, parent("Child"))
    run_id = await accept(db, tenant_a, workflow, {"amount": 1})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "waiting"  # the child is only queued
    # A worker died: the parent is still "running" and its checkpoints are gone, so the graph
    # starts again from the trigger and the step is executed again.
    owner_conn.execute("UPDATE runs SET status = 'running' WHERE id = %s", (run_id,))
    owner_conn.execute("DELETE FROM engine.checkpoints WHERE thread_id = %s", (thread_id(tenant_a, run_id),))
    assert await queue.runtime.execute_run(tenant_a, run_id) == "waiting"
    (sub,) = await children(db, tenant_a, run_id)
    _, events = await load(db, tenant_a, run_id)
    assert events.count(("sub", "waiting")) == 1

    # The child ends (its job, then the parent's); the parent executed once more changes nothing.
    assert await queue.runtime.execute_run(tenant_a, sub.id) == "succeeded"
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    assert await queue.runtime.execute_run(tenant_a, run_id) is None
    assert len(await children(db, tenant_a, run_id)) == 1
    run, _ = await load(db, tenant_a, run_id)
    assert run.output == {"total": 3}


@pytest.mark.parametrize(
    ("others", "version", "reason"),
    [
        ([], "latest", "Step 'sub': there is no workflow 'Child' to run as a sub-workflow"),
        (["draft"], "latest", "Step 'sub': the workflow 'Child' has no published version to run yet"),
        (["published"], 7, "Step 'sub': the workflow 'Child' has no published version 7"),
    ],
)
async def test_what_cannot_be_run_fails_the_step(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    others: list[str],
    version: int | str,
    reason: str,
) -> None:
    if others == ["draft"]:
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            await create_workflow(session, SYSTEM, tenant_a, "Child", child())
    elif others:
        await published(db, tenant_a, child())
    workflow = await published(db, tenant_a, parent("Child", version=version))
    run_id = await accept(db, tenant_a, workflow, {"amount": 1})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "failed"
    run, events = await load(db, tenant_a, run_id)
    assert run.error == reason
    assert events == [("start", "succeeded"), ("sub", "failed")]
    assert await children(db, tenant_a, run_id) == []


async def test_another_tenants_workflow_cannot_be_a_sub_workflow(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    theirs = await published(db, tenant_a, child())
    for reference in ("Child", str(theirs)):
        workflow = await published(db, tenant_b, {**parent(reference), "name": f"Parent of {reference}"})
        run_id = await accept(db, tenant_b, workflow, {"amount": 1})
        assert await queue.runtime.execute_run(tenant_b, run_id) == "failed"
        run, _ = await load(db, tenant_b, run_id)
        assert run.error == f"Step 'sub': there is no workflow {reference!r} to run as a sub-workflow"
    assert owner_conn.execute("SELECT count(*) FROM runs WHERE tenant_id = %s", (tenant_a,)).fetchone() == (
        0,
    )


async def test_endless_nesting_stops_at_five_levels(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    ping = await published(db, tenant_a, calling("Ping", "Pong"))  # Ping → Pong → Ping → …
    await published(db, tenant_a, calling("Pong", "Ping"))
    run_id = await accept(db, tenant_a, ping, {"amount": 1}, queue)
    await drain(queue)

    chain = [run_id]
    while kids := await children(db, tenant_a, chain[-1]):
        (kid,) = kids
        chain.append(kid.id)
    assert len(chain) == 6  # the run and five nested sub-workflow runs
    deepest, _ = await load(db, tenant_a, chain[-1])
    limit = (
        "Step 'sub': sub-workflow runs may nest 5 deep at most, so the run of 'Ping' was not started "
        "(does a workflow end up running itself?)"
    )
    assert (deepest.status, deepest.error) == ("failed", limit)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith(
        "Step 'sub': the sub-workflow 'Pong' failed: Step 'sub': the sub-workflow 'Ping'"
    )
    assert run.error.endswith(limit)


async def test_a_workflow_naming_itself_is_refused(db: Database, tenant_a: uuid.UUID) -> None:
    definition = parent("Parent")
    with pytest.raises(UnsupportedNode) as compiled:
        build_graph(parse_definition(definition), default_actions())
    assert compiled.value.fields[0].field == "definition.nodes[1].config.workflow"
    assert "runs its own workflow 'Parent'" in compiled.value.message

    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        renamed = copy.deepcopy(definition) | {"name": "Something else"}
        workflow, problems = await create_workflow(session, SYSTEM, tenant_a, "Parent", renamed)
        assert [(p.path, p.code) for p in problems] == [("nodes[1].config.workflow", "self_subworkflow")]
        for reference in ("Parent", str(workflow.id)):
            renamed["nodes"][1]["config"]["workflow"] = reference
            await update_draft(session, SYSTEM, tenant_a, workflow.id, definition=copy.deepcopy(renamed))
            with pytest.raises(ValidationFailed) as published_:
                await publish(session, SYSTEM, tenant_a, workflow.id)
            assert [(f.field, f.code) for f in published_.value.fields] == [
                ("definition.nodes[1].config.workflow", "self_subworkflow")
            ]
        assert workflow.latest_version is None
