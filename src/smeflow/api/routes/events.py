"""Events: emit one in the caller's tenant, as the tenant's own systems do (a booking made, a
payment received). The answer is 202: the event is stored, the runs its ``event`` triggers start
and the waiting runs it reaches are queued when the request commits, and workers execute them
afterwards. An event with a ``key`` emitted before is accepted once (``duplicate``: nothing done).
A bad body is a 422 naming ``body.<field>`` and writes nothing. Emitting needs ``events:emit``
(admins and owners).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status

from smeflow.api._deps import State, require, require_tenant
from smeflow.api.routes._fields import body_fields
from smeflow.db import DbScope
from smeflow.engine.runtime import emit_event
from smeflow.engine.schemas import EventIn, EventOut
from smeflow.identity import Principal

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Emit an event: start the workflows it triggers, resume the runs waiting for it",
)
async def emit(
    body: EventIn, state: State, principal: Annotated[Principal, require("events:emit")]
) -> EventOut:
    tenant_id = require_tenant(principal)
    with body_fields():
        async with state.db.transaction(DbScope.tenant(tenant_id, principal.user_id)) as session:
            emitted = await emit_event(
                session, tenant_id, body.name, body.payload, actor=principal, queue=state.runs, key=body.key
            )
            event = emitted.event
            return EventOut(
                id=event.id,
                name=event.name,
                payload=event.payload,
                key=event.key,
                created_by=event.created_by,
                created_at=event.created_at,
                duplicate=emitted.duplicate,
                runs_started=emitted.started,
                runs_resumed=emitted.resumed,
                runs_skipped=emitted.skipped,
            )
