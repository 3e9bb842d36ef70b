"""Internal events on the real database, through real procrastinate workers: an event starts the
runs its triggers call for, resumes the runs waiting for it (the first matching event wins, others
are consumed), is accepted once per key, never reaches another tenant; an event wait's timeout
fails the step (so ``on_error`` can route); the sweeper leaves runs waiting for an event alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel, JsonValue
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from smeflow.audit import AuditEvent
from smeflow.db import Database, DbScope
from smeflow.engine.event_models import Event, EventDelivery, EventWait
from smeflow.engine.runtime import Action, ActionContext, Emitted, RunQueue, emit_event, list_runs
from smeflow.engine.workflows import archive, get_workflow, publish, update_draft
from smeflow.errors import NotFound, ValidationFailed
from smeflow.identity import Principal

from .test_runtime import SYSTEM, accept, load, published, queue  # noqa: F401  (the queue fixture)


def waiting_for(
    event: dict[str, Any], *, timeout: float | None = None, on_error: bool = False
) -> dict[str, Any]:
    """trigger → wait for ``event`` → end (its output: the event taken); ``on_error``: a timeout
    goes to a ``late`` end."""
    wait: dict[str, Any] = {"id": "pay", "kind": "wait", "config": {"event": event}}
    if timeout is not None:
        wait["config"]["timeout"] = timeout
    nodes: list[dict[str, Any]] = [
        {"id": "start", "kind": "trigger"},
        wait,
        {"id": "done", "kind": "end", "config": {"output": {"taken": "nodes.pay.event"}}},
    ]
    edges = [{"from": "start", "to": "pay"}, {"from": "pay", "to": "done"}]
    if on_error:
        wait["on_error"] = "late"
        nodes.append({"id": "late", "kind": "end", "config": {"output": {"late": "true"}}})
    return {
        "schema_version": 1,
        "name": "Wait for payment",
        "triggers": [{"kind": "manual"}],
        "nodes": nodes,
        "edges": edges,
    }


def greeter(name: str, triggers: list[dict[str, Any]]) -> dict[str, Any]:
    """trigger → end: the output greets the input's customer."""
    return {
        "schema_version": 1,
        "name": name,
        "triggers": triggers,
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "done", "kind": "end", "config": {"output": {"hello": '"Jambo " + input.customer'}}},
        ],
        "edges": [{"from": "start", "to": "done"}],
    }


async def emit(
    db: Database,
    tenant: uuid.UUID,
    name: str,
    payload: dict[str, Any],
    queue: RunQueue | None = None,  # noqa: F811
    key: str | None = None,
) -> Emitted:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return await emit_event(session, tenant, name, payload, actor=SYSTEM, queue=queue, key=key)


_DUE_JOBS = """
SELECT count(*) AS due FROM procrastinate_jobs
 WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
"""


async def drain(queue: RunQueue) -> None:  # noqa: F811
    """Run real workers until no job is due: a worker run with ``wait=False`` stops when it finds
    the queue empty, which may be before the jobs its own jobs defer (a child run, a parent)."""
    for _ in range(50):
        await queue.wait_deferred()
        (row,) = await queue.app.connector.execute_query_all_async(_DUE_JOBS)
        if not row["due"]:
            return
        await queue.run_worker(wait=False)
    raise AssertionError("jobs keep coming")


async def waiting_run(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant: uuid.UUID,
    definition: dict[str, Any],
    data: dict[str, Any] | None = None,
) -> uuid.UUID:
    workflow = await published(db, tenant, definition)
    run_id = await accept(db, tenant, workflow, data or {}, queue)
    await drain(queue)
    run, events = await load(db, tenant, run_id)
    assert run.status == "waiting", run.error
    assert events == [("start", "succeeded"), ("pay", "waiting")]
    return run_id


async def deliveries(db: Database, tenant: uuid.UUID, run_id: uuid.UUID) -> list[tuple[Any, str]]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        rows = await session.execute(
            select(Event.payload, EventDelivery.status)
            .join(Event, Event.id == EventDelivery.event_id)
            .where(EventDelivery.run_id == run_id)
            .order_by(Event.id)
        )
        return [(row[0], row[1]) for row in rows]


async def test_an_event_starts_the_workflows_its_triggers_name(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    booking = [{"kind": "manual"}, {"kind": "event", "event": "booking.created"}]
    welcome = await published(db, tenant_a, greeter("Welcome", booking))
    thanks = await published(db, tenant_a, greeter("Thanks", [{"kind": "event", "event": "booking.created"}]))
    await published(db, tenant_a, greeter("Paid", [{"kind": "event", "event": "payment.succeeded"}]))
    await published(db, tenant_a, greeter("By hand", [{"kind": "manual"}]))
    retired = await published(db, tenant_a, greeter("Retired", booking))
    moved_on = await published(db, tenant_a, greeter("Moved on", booking))
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await archive(session, SYSTEM, tenant_a, retired)
        # its newest version has no event trigger any more: version 1's does not count
        await update_draft(
            session, SYSTEM, tenant_a, moved_on, definition=greeter("Moved on", [{"kind": "manual"}])
        )
        await publish(session, SYSTEM, tenant_a, moved_on)

    emitted = await emit(db, tenant_a, "booking.created", {"customer": "Wanjiru"}, queue)
    assert not emitted.duplicate
    assert emitted.resumed == []
    assert len(emitted.started) == 2
    await drain(queue)

    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        runs = await list_runs(session, tenant_a)
        assert sorted((r.workflow_id, r.status) for r in runs) == sorted(
            [(welcome, "succeeded"), (thanks, "succeeded")]
        )
        assert {r.id for r in runs} == set(emitted.started)
        for run in runs:
            assert run.input == {"customer": "Wanjiru"}
            assert run.output == {"hello": "Jambo Wanjiru"}
            assert run.created_by == "event:booking.created"
        audit = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "event.emitted"))
        ).scalar_one()
        assert (audit.target_id, audit.actor_type, audit.actor_id) == (
            str(emitted.event.id),
            "system",
            "tests",
        )
        assert audit.data == {
            "name": "booking.created",
            "key": None,
            "runs_started": [str(run_id) for run_id in emitted.started],
            "runs_resumed": [],
        }
        started = (
            await session.execute(select(AuditEvent.data).where(AuditEvent.action == "run.started"))
        ).scalars()
        assert all(data["created_by"] == "event:booking.created" for data in started)


async def test_a_key_is_accepted_once(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    await published(db, tenant_a, greeter("Welcome", [{"kind": "event", "event": "booking.created"}]))
    first = await emit(db, tenant_a, "booking.created", {"customer": "Wanjiru"}, queue, key="booking-17")
    again = await emit(db, tenant_a, "booking.created", {"customer": "Someone else"}, queue, key="booking-17")
    other = await emit(db, tenant_a, "booking.created", {"customer": "Achieng"}, queue, key="booking-18")
    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert again.event.id == first.event.id
    assert again.event.payload == {"customer": "Wanjiru"}
    assert (again.started, again.resumed) == ([], [])
    assert owner_conn.execute("SELECT count(*) FROM events").fetchone() == (2,)
    assert owner_conn.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    audited = owner_conn.execute("SELECT count(*) FROM audit_events WHERE action = 'event.emitted'")
    assert audited.fetchone() == (2,)


async def test_bad_events_are_refused_and_write_nothing(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    cases: list[tuple[Any, Any, Any, str]] = [
        ("booking created", {}, None, "name"),
        ("", {}, None, "name"),
        ("x" * 129, {}, None, "name"),
        ("booking.created", ["not", "an", "object"], None, "payload"),
        ("booking.created", {"note": "nul \x00 inside"}, None, "payload"),
        ("booking.created", {"amount": float("nan")}, None, "payload"),
        ("booking.created", {}, "", "key"),
        ("booking.created", {}, "k" * 201, "key"),
    ]
    for name, payload, key, field in cases:
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            with pytest.raises(ValidationFailed) as caught:
                await emit_event(session, tenant_a, name, payload, actor=SYSTEM, key=key)
        assert [f.field for f in caught.value.fields] == [field], (name, payload, key)
    assert owner_conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
    assert owner_conn.execute("SELECT count(*) FROM audit_events").fetchone() == (0,)


async def test_a_waiting_run_takes_the_first_matching_event(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    definition = waiting_for({"name": "payment.succeeded", "match": "event.amount >= input.amount"})
    run_id = await waiting_run(db, queue, tenant_a, definition, {"amount": 1500})
    await emit(db, tenant_a, "payment.failed", {"amount": 1500}, queue)  # another name: not delivered
    small = await emit(db, tenant_a, "payment.succeeded", {"amount": 100}, queue)
    odd = await emit(db, tenant_a, "payment.succeeded", {"reference": "no amount"}, queue)
    assert small.resumed == odd.resumed == [run_id]
    await drain(queue)

    # neither matched: consumed and ignored, and the run waits on
    run, events = await load(db, tenant_a, run_id)
    assert run.status == "waiting"
    assert events == [("start", "succeeded"), ("pay", "waiting")]
    assert await deliveries(db, tenant_a, run_id) == [
        ({"amount": 100}, "ignored"),
        ({"reference": "no amount"}, "ignored"),
    ]

    # two matching events before the run looks: the first one is taken
    first = await emit(db, tenant_a, "payment.succeeded", {"amount": 1500, "reference": "QK1"}, queue)
    await emit(db, tenant_a, "payment.succeeded", {"amount": 2000, "reference": "QK2"}, queue)
    await drain(queue)
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert run.output == {
        "taken": {
            "name": "payment.succeeded",
            "payload": {"amount": 1500, "reference": "QK1"},
            "at": first.event.created_at.isoformat(),
        }
    }
    assert events == [("start", "succeeded"), ("pay", "waiting"), ("pay", "succeeded"), ("done", "succeeded")]
    assert [status for _, status in await deliveries(db, tenant_a, run_id)] == [
        "ignored",
        "ignored",
        "taken",
        "ignored",
    ]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        wait = (await session.execute(select(EventWait))).scalar_one()
        assert (wait.status, wait.event_id, wait.match) == (
            "closed",
            first.event.id,
            "event.amount >= input.amount",
        )
    # the run has ended: a later event reaches nothing
    assert (await emit(db, tenant_a, "payment.succeeded", {"amount": 9000}, queue)).resumed == []


async def test_an_event_emitted_before_the_wait_is_not_seen(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    workflow = await published(db, tenant_a, waiting_for({"name": "payment.succeeded"}))
    run_id = await accept(db, tenant_a, workflow, {}, queue)
    early = await emit(db, tenant_a, "payment.succeeded", {"amount": 1}, queue)  # the run is only queued
    assert early.resumed == []
    await drain(queue)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "waiting"
    assert await deliveries(db, tenant_a, run_id) == []
    assert await queue.sweep() == 0  # waits for an event, with no timeout: no wake-up job needed
    assert await queue.runtime.waiting_without_approval() == []

    await emit(db, tenant_a, "payment.succeeded", {"amount": 2}, queue)
    await drain(queue)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "succeeded"
    assert run.output is not None
    assert run.output["taken"]["payload"] == {"amount": 2}


def ticking() -> dict[str, Any]:
    """A loop through an event wait: each ``tick`` is counted until one says it is the last."""
    return {
        "schema_version": 1,
        "name": "Ticks",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "pay", "kind": "wait", "config": {"event": {"name": "tick"}}},
            {
                "id": "count",
                "kind": "action",
                "config": {"action": "core.set", "input": {"seen": "=nodes.pay.event.payload.n"}},
            },
            {"id": "again", "kind": "condition", "config": {"default": "pay"}},
            {"id": "done", "kind": "end", "config": {"output": {"last": "vars.seen"}}},
        ],
        "edges": [
            {"from": "start", "to": "pay"},
            {"from": "pay", "to": "count"},
            {"from": "count", "to": "again"},
            {"from": "again", "to": "done", "condition": "nodes.pay.event.payload.last"},
            {"from": "again", "to": "pay"},
        ],
    }


async def test_a_loop_waits_for_a_new_event_each_time(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    run_id = await waiting_run(db, queue, tenant_a, ticking())
    await emit(db, tenant_a, "tick", {"n": 1, "last": False}, queue)
    await drain(queue)
    run, events = await load(db, tenant_a, run_id)
    assert run.status == "waiting"
    assert events[-2:] == [("again", "succeeded"), ("pay", "waiting")]
    await emit(db, tenant_a, "tick", {"n": 2, "last": True}, queue)
    await drain(queue)
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.output) == ("succeeded", {"last": 2})
    assert [node for node, status in events if node == "pay" and status == "succeeded"] == ["pay", "pay"]


async def until_ended(db: Database, queue: RunQueue, tenant: uuid.UUID, run_id: uuid.UUID) -> Any:  # noqa: F811
    """Run the worker until the run ends (its wake-up job is scheduled about a second ahead)."""
    for _ in range(300):  # a minute at most
        await queue.run_worker(wait=False)
        run, events = await load(db, tenant, run_id)
        if run.status in ("succeeded", "failed"):
            return run, events
        await asyncio.sleep(0.2)
    raise AssertionError(f"run stayed {run.status}")


async def test_an_event_wait_gives_up_after_its_timeout(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    # both runs are started before either is looked at: a 1-s timeout may pass while a loaded
    # machine drains the queue, so "waiting" is read from their timelines, not raced for
    routed_flow = await published(
        db, tenant_a, waiting_for({"name": "payment.succeeded"}, timeout=1, on_error=True)
    )
    definition = waiting_for({"name": "payment.succeeded"}, timeout="PT1S")
    definition["name"] = "Strict payment"
    failing_flow = await published(db, tenant_a, definition)
    routed = await accept(db, tenant_a, routed_flow, {}, queue)
    failing = await accept(db, tenant_a, failing_flow, {}, queue)

    run, events = await until_ended(db, queue, tenant_a, routed)
    assert (run.status, run.output) == ("succeeded", {"late": True})
    assert events == [("start", "succeeded"), ("pay", "waiting"), ("pay", "failed"), ("late", "succeeded")]
    run, events = await until_ended(db, queue, tenant_a, failing)
    assert run.status == "failed"
    assert run.error == "Step 'pay' waited 1 second for payment.succeeded and gave up"
    assert events[-2:] == [("pay", "waiting"), ("pay", "failed")]
    # given up: the waits are closed, an event now reaches neither run
    assert (await emit(db, tenant_a, "payment.succeeded", {}, queue)).resumed == []


async def test_an_until_wait_gives_up_after_its_timeout(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    definition = waiting_for({"name": "unused"}, timeout=1)
    definition["nodes"][1]["config"] = {"until": "input.at", "timeout": 1}
    definition["nodes"][2]["config"]["output"] = {"due": "nodes.pay.due"}
    run_id = await waiting_run(db, queue, tenant_a, definition, {"at": "2100-01-01T09:00:00+03:00"})
    run, _ = await until_ended(db, queue, tenant_a, run_id)
    assert run.status == "failed"
    assert run.error == "Step 'pay' waited 1 second for 2100-01-01T06:00:00+00:00 and gave up"


async def test_a_lost_wake_up_of_an_event_timeout_is_found_by_the_sweeper(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    timed = await published(db, tenant_a, waiting_for({"name": "payment.succeeded"}, timeout="PT1H"))
    definition = waiting_for({"name": "payment.succeeded"})
    definition["name"] = "Untimed"
    untimed = await published(db, tenant_a, definition)
    with_timeout = await accept(db, tenant_a, timed, {})
    without = await accept(db, tenant_a, untimed, {})
    for run_id in (with_timeout, without):
        assert await queue.runtime.execute_run(tenant_a, run_id) == "waiting"  # no queue: no wake-up
    assert await queue.runtime.waiting_without_approval() == [(tenant_a, with_timeout)]
    assert await queue.sweep() == 1
    await queue.run_worker(wait=False)  # early: schedules the timeout's wake-up again
    assert await queue.sweep() == 0


async def test_events_never_cross_tenants(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    await published(db, tenant_a, greeter("Welcome", [{"kind": "event", "event": "payment.succeeded"}]))
    waiting = await waiting_run(db, queue, tenant_a, waiting_for({"name": "payment.succeeded"}))

    # B's event reaches none of A's workflows or waiting runs
    emitted = await emit(db, tenant_b, "payment.succeeded", {"amount": 1}, queue)
    assert (emitted.started, emitted.resumed) == ([], [])
    await drain(queue)
    run, _ = await load(db, tenant_a, waiting)
    assert run.status == "waiting"
    assert await deliveries(db, tenant_a, waiting) == []

    # an event for A under B's binding is refused by the database itself
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(DbScope.tenant(tenant_b)) as session:
            await emit_event(session, tenant_a, "payment.succeeded", {"amount": 2}, actor=SYSTEM, queue=queue)
    # and a principal of B cannot name A
    member_of_b = Principal(kind="user", tenant_id=tenant_b, role="owner", user_id=uuid.uuid4())
    async with db.transaction(DbScope.tenant(tenant_b)) as session:
        with pytest.raises(NotFound):
            await emit_event(session, tenant_a, "payment.succeeded", {}, actor=member_of_b)
    assert owner_conn.execute("SELECT tenant_id FROM events").fetchall() == [(tenant_b,)]
    assert owner_conn.execute("SELECT count(*) FROM runs WHERE tenant_id = %s", (tenant_a,)).fetchone() == (
        1,
    )
    run, _ = await load(db, tenant_a, waiting)
    assert run.status == "waiting"
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await get_workflow(session, tenant_a, run.workflow_id)).name == "Wait for payment"


class _EmitIn(BaseModel):
    amount: int


class _Emits(Action):
    """Emits ``payment.succeeded`` in its own transaction, as a provider's callback confirmed
    while the step is still finishing would."""

    name = "test.pay_now"
    effect = "write"
    input_model = _EmitIn

    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, ctx: ActionContext, data: _EmitIn) -> JsonValue:
        async with self.db.transaction(DbScope.tenant(ctx.tenant_id)) as session:
            await emit_event(
                session, ctx.tenant_id, "payment.succeeded", {"amount": data.amount}, actor=SYSTEM
            )
        return {"asked": data.amount}


def paying_then_waiting() -> dict[str, Any]:
    definition = waiting_for({"name": "payment.succeeded", "match": "event.amount == input.amount"})
    definition["nodes"].insert(
        1,
        {
            "id": "ask",
            "kind": "action",
            "config": {"action": "test.pay_now", "input": {"amount": "=input.amount"}},
        },
    )
    definition["edges"] = [
        {"from": "start", "to": "ask"},
        {"from": "ask", "to": "pay"},
        {"from": "pay", "to": "done"},
    ]
    return definition


async def test_an_event_emitted_while_the_step_before_ran_is_taken_at_once(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    queue.runtime.actions.register(_Emits(db))
    workflow = await published(db, tenant_a, paying_then_waiting())
    await emit(db, tenant_a, "payment.succeeded", {"amount": 500}, queue)  # before the run: not for it
    run_id = await accept(db, tenant_a, workflow, {"amount": 500}, queue)
    await drain(queue)
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert events == [
        ("start", "succeeded"),
        ("ask", "succeeded"),
        ("pay", "succeeded"),
        ("done", "succeeded"),
    ]
    assert run.output is not None
    taken = run.output["taken"]
    assert taken["payload"] == {"amount": 500}
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        emitted = (
            await session.execute(
                select(Event.id, Event.created_at)
                .where(Event.name == "payment.succeeded")
                .order_by(Event.created_at)
            )
        ).all()
        wait = (await session.execute(select(EventWait).where(EventWait.run_id == run_id))).scalar_one()
    assert len(emitted) == 2
    assert wait.event_id == emitted[1].id  # the one the step emitted, not the earlier one
    assert wait.status == "closed"
    assert await deliveries(db, tenant_a, run_id) == [({"amount": 500}, "taken")]
