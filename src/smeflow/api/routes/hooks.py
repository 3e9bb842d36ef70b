"""Webhooks: other systems start a workflow's run by POSTing to its URL, with no login.

``POST /api/v1/hooks/{tenant_slug}/{workflow_id_or_name}`` answers **202**
``{"run_id", "status": "queued"}`` as soon as the run is stored (a worker executes it after the
answer), or **200** with the first run for an ``Idempotency-Key`` already used within 24 h.
Refusals, in the order they are checked: 404 for anything that is not a webhook (unknown or
inactive tenant, unknown or archived workflow, newest version without a webhook trigger: one
answer for all), 401 for a missing, wrong or stale signature (``X-SMEFlow-Timestamp`` +
``X-SMEFlow-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, when the
trigger requires one), 429 over the tenant's request rate (only calls that passed the signature
count), 400 for a body that is not JSON, 422 for a body that is not an object or does not match
the workflow's input schema; the body limit of the API applies (413). A refused call stores
nothing.
"""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Request, Response, status

from smeflow.api._deps import State, limit_tenant
from smeflow.engine.runtime import HookCall, accept_hook
from smeflow.engine.schemas import HookAcceptedOut

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

_DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else None


@router.post(
    "/hooks/{tenant_slug}/{workflow_id_or_name}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=HookAcceptedOut,
    responses={
        200: {"model": HookAcceptedOut, "description": "an Idempotency-Key already used: the first run"}
    },
    summary="Start a run from another system (the workflow's webhook)",
    description=_DESCRIPTION,
)
async def hook(tenant_slug: str, workflow_id_or_name: str, request: Request, state: State) -> Response:
    headers = request.headers
    call = HookCall(
        tenant_slug=tenant_slug,
        workflow=workflow_id_or_name,
        body=await request.body(),
        timestamp=headers.get("x-smeflow-timestamp"),
        signature=headers.get("x-smeflow-signature"),
        idempotency_key=headers.get("idempotency-key"),
    )

    async def admit(tenant_id: uuid.UUID, tier: str) -> None:
        await limit_tenant(state, tenant_id, tier)

    result = await accept_hook(state.db, state.settings, call, queue=state.runs, admit=admit)
    return Response(
        orjson.dumps({"run_id": str(result.run_id), "status": result.status}),
        status_code=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK,
        media_type="application/json",
    )
