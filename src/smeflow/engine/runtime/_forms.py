"""Forms in runs: a ``form`` step opens a pending form and interrupts the run (LangGraph
``interrupt()``); someone answers it (:func:`answer_form`: staff through the API today, a customer
through a channel later), and the run is queued again and resumes with
``{"answers": {...}, "answered_by": ...}`` as the step's output (so later expressions read
``nodes.<form node>.answers.<question>``).

Key contracts:

* One form per run and node (:func:`open_form` is idempotent), so a re-executed step never asks
  twice; a step that finds its form already answered (a run re-executed from an older
  checkpoint) goes on with those answers instead of asking again.
* Answers are checked against the form's own questions (:func:`check_answers`: every problem,
  at ``answers.<name>``) before anything is written. A form is answered once: answering an
  answered form, or a form whose run has ended, is :class:`Conflict`; another tenant's form is
  :class:`NotFound` (RLS). The answers, their audit event (``form.answered``: who, and which
  questions were answered, never the answers themselves) and the run going back to ``queued``
  commit together; the job is deferred after the commit.
* The runtime resumes a waiting run with :func:`form_answers` (the answer of every answered form
  it waits for, by interrupt id), next to the approvals' decisions and the waits' wake-ups.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from langgraph.types import StateSnapshot
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import new_id, utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.definitions import FormField, check_answers
from smeflow.engine.form_models import Form
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.engine.runtime._runs import _defer_after_commit
from smeflow.engine.runtime._tasks import list_pending_first, pending_cursor
from smeflow.errors import Conflict, NotFound
from smeflow.identity import Principal

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue

_NO_FORM = "No such form"
FormFilter = Literal["pending", "answered", "all"]


@dataclass(frozen=True, slots=True)
class OpenedForm:
    """The form a step waits for, whether this execution of the step opened it, and its answer
    if it has one already."""

    id: uuid.UUID
    created: bool
    answer: dict[str, Any] | None = None


def answer_of(form: Form) -> dict[str, Any]:
    """What an answered form gives its step (the step's output)."""
    return {"answers": form.answers, "answered_by": form.answered_by}


async def open_form(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    node_id: str,
    *,
    visit: int = 1,
    title: str | None,
    fields: list[dict[str, Any]],
) -> OpenedForm:
    """The run's form for visit ``visit`` of ``node_id``, created (committed on return) the first
    time the step asks on that visit."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        created = (
            await session.execute(
                insert(Form)
                .values(
                    tenant_id=tenant_id,
                    id=new_id(),
                    run_id=run_id,
                    node_id=node_id,
                    visit=visit,
                    title=title,
                    fields=fields,
                    status="pending",
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(Form.id)
            )
        ).scalar_one_or_none()
        if created is not None:
            return OpenedForm(created, True)
        form = (
            await session.execute(
                select(Form).where(
                    Form.tenant_id == tenant_id,
                    Form.run_id == run_id,
                    Form.node_id == node_id,
                    Form.visit == visit,
                )
            )
        ).scalar_one()
        return OpenedForm(form.id, False, answer_of(form) if form.status == "answered" else None)


async def form_answers(db: Database, tenant_id: uuid.UUID, snapshot: StateSnapshot) -> dict[str, Any]:
    """The resume value of every answered form an interrupted run waits for, by interrupt id."""
    waiting: dict[str, uuid.UUID] = {}
    for pending in snapshot.interrupts:
        value = pending.value
        if isinstance(value, dict) and "form_id" in value:
            waiting[pending.id] = uuid.UUID(str(value["form_id"]))
    if not waiting:
        return {}
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        rows = (
            await session.execute(
                select(Form).where(
                    Form.tenant_id == tenant_id,
                    Form.id.in_(list(waiting.values())),
                    Form.status == "answered",
                )
            )
        ).scalars()
        answered = {row.id: answer_of(row) for row in rows}
    return {key: answered[form] for key, form in waiting.items() if form in answered}


async def answer_form(
    session: AsyncSession,
    actor: Principal | Actor,
    tenant_id: uuid.UUID,
    form_id: uuid.UUID,
    answers: Any,
    *,
    queue: RunQueue | None = None,
) -> Form:
    """Answer a pending form, in the caller's transaction (audited ``form.answered``); its run is
    queued again, and with ``queue`` its job is deferred once that transaction commits.

    :class:`NotFound` for another tenant's or an unknown form; :class:`Conflict` if it is already
    answered or its run has ended; :class:`ValidationFailed` (fields ``answers.<name>``) for
    answers that do not fit its questions, with nothing written.
    """
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound(_NO_FORM)
    form = (
        await session.execute(
            select(Form).where(Form.tenant_id == tenant_id, Form.id == form_id).with_for_update()
        )
    ).scalar_one_or_none()
    if form is None:
        raise NotFound(_NO_FORM)
    if form.status != "pending":
        raise Conflict("The form has already been answered")
    run = (
        await session.execute(
            select(Run).where(Run.tenant_id == tenant_id, Run.id == form.run_id).with_for_update()
        )
    ).scalar_one()
    if run.status in FINISHED_STATUSES:
        raise Conflict(f"The run of this form has already ended ({run.status})")
    checked = check_answers([FormField.model_validate(field) for field in form.fields], answers)
    who = actor.actor if isinstance(actor, Principal) else actor
    form.status = "answered"
    form.answers = checked
    form.answered_by = f"{who.type}:{who.id}"
    form.answered_at = utcnow()
    run.status = "queued"
    await session.flush()
    await record(
        session,
        tenant_id,
        who,
        "form.answered",
        "form",
        str(form.id),
        {
            "run_id": str(form.run_id),
            "node_id": form.node_id,
            "answered": [name for name, value in checked.items() if value is not None],
        },
    )
    if queue is not None:
        _defer_after_commit(session, queue, tenant_id, form.run_id)
    return form


async def get_form(session: AsyncSession, tenant_id: uuid.UUID, form_id: uuid.UUID) -> Form:
    """One of the tenant's forms; :class:`NotFound` otherwise."""
    form = (
        await session.execute(select(Form).where(Form.tenant_id == tenant_id, Form.id == form_id))
    ).scalar_one_or_none()
    if form is None:
        raise NotFound(_NO_FORM)
    return form


async def list_forms(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    limit: int = 50,
    *,
    status: FormFilter = "pending",
    run_id: uuid.UUID | None = None,
    after: tuple[int, uuid.UUID] | None = None,
) -> list[Form]:
    """The tenant's forms: pending ones by default (``status="all"``: pending first), newest
    first (of one run, if given); pass :func:`form_cursor` of the last one seen as ``after``."""
    return await list_pending_first(
        session,
        Form,
        tenant_id,
        limit,
        status=None if status == "all" else status,
        run_id=run_id,
        after=after,
    )


def form_cursor(form: Form) -> tuple[int, uuid.UUID]:
    """The sort key of a form in :func:`list_forms`."""
    return pending_cursor(form)


__all__ = [
    "FormFilter",
    "OpenedForm",
    "answer_form",
    "answer_of",
    "form_answers",
    "form_cursor",
    "get_form",
    "list_forms",
    "open_form",
]
