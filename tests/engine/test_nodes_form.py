"""Form steps on the real database: a run waits at its form, is answered (checked, audited, queued
again) and resumes down the way the answers choose; what is refused (answering twice, bad answers,
an ended run, another tenant); a re-executed run never asks twice; the sweeper leaves a run
waiting for answers alone."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from smeflow.audit import Actor
from smeflow.audit.models import AuditEvent
from smeflow.db import Database, DbScope
from smeflow.engine.form_models import Form
from smeflow.engine.runtime import RunQueue, answer_form, get_form, list_forms, thread_id
from smeflow.errors import Conflict, NotFound, ValidationFailed

from .test_runtime import accept, load, published, queue  # noqa: F401  (the queue fixture)

STAFF = Actor("user", "0191f0c0-0000-7000-8000-000000000001")


def booking_form() -> dict[str, Any]:
    """trigger → ask (form) → check: braids → long / anything else → short; each end reports the
    answers it used."""
    fields = [
        {
            "name": "service",
            "type": "single_choice",
            "label": "Which service?",
            "options": ["Haircut", "Braids"],
        },
        {"name": "day", "type": "date", "label": "Which day?"},
        {"name": "phone", "type": "phone", "label": "Your number"},
        {"name": "deposit", "type": "money", "label": "Deposit", "currency": "KES", "min": 0},
        {"name": "reminders", "type": "consent", "label": "May we remind you?", "required": False},
    ]
    output = {
        "service": "nodes.ask.answers.service",
        "day": "nodes.ask.answers.day",
        "deposit": "nodes.ask.answers.deposit.amount",
        "by": "nodes.ask.answered_by",
    }
    return {
        "schema_version": 1,
        "name": "Booking form",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "ask", "kind": "form", "config": {"title": "Book a visit", "fields": fields}},
            {"id": "check", "kind": "condition", "config": {"default": "short"}},
            {"id": "long", "kind": "end", "config": {"output": output | {"slot": '"long"'}}},
            {"id": "short", "kind": "end", "config": {"output": output | {"slot": '"short"'}}},
        ],
        "edges": [
            {"from": "start", "to": "ask"},
            {"from": "ask", "to": "check"},
            {"from": "check", "to": "long", "condition": 'nodes.ask.answers.service == "Braids"'},
            {"from": "check", "to": "short"},
        ],
    }


GOOD = {"service": "Braids", "day": "2025-06-01", "phone": "+254 712 345 678", "deposit": 150000}


async def waiting_at_the_form(db: Database, queue: RunQueue, tenant: uuid.UUID) -> tuple[uuid.UUID, Form]:  # noqa: F811
    workflow = await published(db, tenant, booking_form())
    run_id = await accept(db, tenant, workflow, {})
    assert await queue.runtime.execute_run(tenant, run_id) == "waiting"
    async with db.transaction(DbScope.tenant(tenant)) as session:
        (form,) = await list_forms(session, tenant, run_id=run_id)
    return run_id, form


async def answer(db: Database, tenant: uuid.UUID, form_id: uuid.UUID, answers: Any) -> Form:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return await answer_form(session, STAFF, tenant, form_id, answers)


async def test_a_form_round_trip(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    run_id, form = await waiting_at_the_form(db, queue, tenant_a)
    run, events = await load(db, tenant_a, run_id)
    assert (run.status, run.output) == ("waiting", None)
    assert events == [("start", "succeeded"), ("ask", "waiting")]
    assert (form.node_id, form.title, form.status, form.answers) == ("ask", "Book a visit", "pending", None)
    assert [f["name"] for f in form.fields] == ["service", "day", "phone", "deposit", "reminders"]
    assert form.fields[3] == {
        "name": "deposit",
        "type": "money",
        "label": "Deposit",
        "required": True,
        "min": 0.0,
        "currency": "KES",
    }

    # executed again before anyone answers (a stray job): still waiting, still one form
    assert await queue.runtime.execute_run(tenant_a, run_id) == "waiting"
    run, events = await load(db, tenant_a, run_id)
    assert events == [("start", "succeeded"), ("ask", "waiting")]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert [f.id for f in await list_forms(session, tenant_a, status="all")] == [form.id]

    answered = await answer(db, tenant_a, form.id, GOOD)
    assert (answered.status, answered.answered_by) == ("answered", f"user:{STAFF.id}")
    assert answered.answers == {
        "service": "Braids",
        "day": "2025-06-01",
        "phone": "+254712345678",
        "deposit": {"amount": 150000, "currency": "KES"},
        "reminders": None,
    }
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "queued"
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        audit = (
            await session.execute(select(AuditEvent).where(AuditEvent.target_id == str(form.id)))
        ).scalar_one()
    assert (audit.action, audit.actor_type, audit.actor_id) == ("form.answered", "user", STAFF.id)
    assert audit.data == {
        "run_id": str(run_id),
        "node_id": "ask",
        "answered": ["service", "day", "phone", "deposit"],
    }

    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    run, events = await load(db, tenant_a, run_id)
    assert run.output == {
        "slot": "long",
        "service": "Braids",
        "day": "2025-06-01",
        "deposit": 150000,
        "by": f"user:{STAFF.id}",
    }
    assert events == [
        ("start", "succeeded"),
        ("ask", "waiting"),
        ("ask", "succeeded"),
        ("check", "succeeded"),
        ("long", "succeeded"),
    ]

    with pytest.raises(Conflict, match="already been answered"):
        await answer(db, tenant_a, form.id, GOOD | {"service": "Haircut"})


async def test_bad_answers_are_refused_with_every_problem_and_change_nothing(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    run_id, form = await waiting_at_the_form(db, queue, tenant_a)
    audit_before = owner_conn.execute("SELECT count(*) FROM audit_events").fetchone()
    with pytest.raises(ValidationFailed) as caught:
        await answer(
            db, tenant_a, form.id, {"service": "Nails", "day": "1 June", "deposit": -5, "colour": "red"}
        )
    assert {p.field: p.code for p in caught.value.fields} == {
        "answers.service": "not_an_option",
        "answers.day": "invalid",
        "answers.phone": "required",
        "answers.deposit": "out_of_range",
        "answers.colour": "unknown_field",
    }
    assert "Which service? (must be one of 'Haircut', 'Braids')" in caught.value.message
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        still = await get_form(session, tenant_a, form.id)
        assert (still.status, still.answers, still.answered_by) == ("pending", None, None)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "waiting"
    assert owner_conn.execute("SELECT count(*) FROM audit_events").fetchone() == audit_before


async def test_a_form_of_an_ended_run_cannot_be_answered(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    run_id, form = await waiting_at_the_form(db, queue, tenant_a)
    owner_conn.execute("UPDATE runs SET status = 'cancelled' WHERE id = %s", (run_id,))
    with pytest.raises(Conflict, match=r"already ended \(cancelled\)"):
        await answer(db, tenant_a, form.id, GOOD)


async def test_another_tenant_cannot_see_or_answer_the_form(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
) -> None:
    _, form = await waiting_at_the_form(db, queue, tenant_a)
    async with db.transaction(DbScope.tenant(tenant_b)) as session:
        with pytest.raises(NotFound):
            await get_form(session, tenant_b, form.id)
        with pytest.raises(NotFound):
            await get_form(session, tenant_a, form.id)  # naming A changes nothing under B's binding
        assert await list_forms(session, tenant_a, status="all") == []
    with pytest.raises(NotFound):
        await answer(db, tenant_b, form.id, GOOD)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await get_form(session, tenant_a, form.id)).status == "pending"


async def test_a_rerun_after_the_answer_does_not_ask_again(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    run_id, form = await waiting_at_the_form(db, queue, tenant_a)
    await answer(db, tenant_a, form.id, GOOD | {"service": "Haircut"})
    # The worker lost the run's checkpoints: it starts again from the trigger.
    owner_conn.execute("DELETE FROM engine.checkpoints WHERE thread_id = %s", (thread_id(tenant_a, run_id),))
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    run, events = await load(db, tenant_a, run_id)
    assert (run.output or {})["slot"] == "short"
    assert events == [
        ("start", "succeeded"),
        ("ask", "waiting"),
        ("start", "succeeded"),
        ("ask", "succeeded"),
        ("check", "succeeded"),
        ("short", "succeeded"),
    ]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert len(await list_forms(session, tenant_a, status="all")) == 1


async def test_the_sweeper_leaves_a_run_waiting_for_answers_alone(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    run_id, form = await waiting_at_the_form(db, queue, tenant_a)
    assert await queue.runtime.waiting_without_approval() == []
    assert await queue.sweep() == 0
    jobs = await queue.app.connector.execute_query_all_async(
        "SELECT id FROM procrastinate_jobs WHERE lock = %(lock)s", lock=f"run:{run_id}"
    )
    assert jobs == []
    # once answered (and so queued), a lost job is found like any queued run's
    await answer(db, tenant_a, form.id, GOOD)
    assert await queue.runtime.waiting_without_approval() == []
    await queue.run_worker(wait=False)
    run, _ = await load(db, tenant_a, run_id)
    assert run.status == "queued"  # nothing deferred it yet (no queue given to answer_form)
    assert await queue.runtime.requeue_candidates(0) == [(tenant_a, run_id)]
