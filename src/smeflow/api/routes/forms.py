"""Forms: the questions waiting runs ask (pending ones by default), one form, and answering it.

Answering answers 200 with the answered form; its run is queued again when the request commits
and a worker resumes it with the answers. Answers that do not fit the questions are a 422 naming
each ``body.answers.<name>`` and write nothing; a form already answered (or whose run has ended)
is a 409 problem; another tenant's form is 404. Reading needs ``forms:read``; answering
``forms:answer`` (staff and up: a customer answers through a channel, staff and the web chat
through this API).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter

from smeflow.api._deps import State, require, require_tenant
from smeflow.api._pagination import Cursor, Limit, Page, decode_cursor, paginate
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.engine.form_models import Form
from smeflow.engine.runtime import FormFilter, answer_form, form_cursor, get_form, list_forms
from smeflow.engine.schemas import FormAnswersIn, FormOut
from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity import Principal

router = APIRouter(prefix="/api/v1", tags=["forms"])


def _scope(principal: Principal) -> tuple[uuid.UUID, DbScope]:
    tenant_id: uuid.UUID = require_tenant(principal)
    return tenant_id, DbScope.tenant(tenant_id, principal.user_id)


def _cursor(cursor: str | None) -> tuple[int, uuid.UUID] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and value[0] in (0, 1) and isinstance(value[1], str):
        try:
            return int(value[0]), uuid.UUID(value[1])
        except ValueError:
            pass
    raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")])


def _key(form: Form) -> list[object]:
    rank, form_id = form_cursor(form)
    return [rank, str(form_id)]


@router.get("/forms", summary="The tenant's forms: pending ones unless asked otherwise, newest first")
async def list_all(
    state: State,
    principal: Annotated[Principal, require("forms:read")],
    limit: Limit = 50,
    cursor: Cursor = None,
    status: FormFilter = "pending",
    run_id: uuid.UUID | None = None,
) -> Page[FormOut]:
    tenant_id, scope = _scope(principal)
    after = _cursor(cursor)
    async with state.db.transaction(scope) as session:
        rows = await list_forms(session, tenant_id, limit + 1, status=status, run_id=run_id, after=after)
        return paginate(rows, limit, _key, FormOut.model_validate)


@router.get("/forms/{form_id}", summary="One form: its questions, status and answers")
async def get_one(
    form_id: uuid.UUID, state: State, principal: Annotated[Principal, require("forms:read")]
) -> FormOut:
    tenant_id, scope = _scope(principal)
    async with state.db.transaction(scope) as session:
        return FormOut.model_validate(await get_form(session, tenant_id, form_id))


@router.post("/forms/{form_id}/answers", summary="Answer a pending form (its run then goes on)")
async def answer(
    form_id: uuid.UUID,
    body: FormAnswersIn,
    state: State,
    principal: Annotated[Principal, require("forms:answer")],
) -> FormOut:
    tenant_id, scope = _scope(principal)
    with body_fields():
        async with state.db.transaction(scope) as session:
            form = await answer_form(session, principal, tenant_id, form_id, body.answers, queue=state.runs)
            return FormOut.model_validate(form)
