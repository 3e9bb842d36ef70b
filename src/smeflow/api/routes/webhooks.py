"""Provider webhooks: M-Pesa, Paystack, Flutterwave, WhatsApp… call back here, with no login.

``POST /api/v1/webhooks/{provider}/{integration_id}/{token}`` (the URL an integration gives its
provider) answers what the provider expects (the connector's reply: 200 ``{"ok": true}`` by
default) once the delivery and its events are **stored** (they are processed afterwards, by a
worker). ``GET`` on the same URL answers a provider's verification handshake (WhatsApp's
``hub.challenge``). Refusals, in the order they are checked: **404** for an unknown or disabled
integration, another provider, or a wrong token (one answer for all: nothing tells whether the
integration exists); **403** for a source address outside the integration's allowed addresses;
**413** for a body over the webhook limit; **401** for a signature that does not verify;
**400** for a delivery the connector cannot read (kept, marked malformed, for inspection).
Nothing else of a refused delivery is stored. A delivery sent again is answered the same way
and adds no event.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from starlette.exceptions import HTTPException

from smeflow.api._deps import State
from smeflow.api._problems import internal_error, problem
from smeflow.api._state import AppState
from smeflow.connectors import WebhookReply
from smeflow.errors import SMEFlowError
from smeflow.integrations import Arrival, Ingress

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

_DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else None
PATH = "/webhooks/{provider}/{integration_id}/{token}"


def ingress_of(state: AppState) -> Ingress:
    """The process's ingress (made on first use; it shares the auth cache and its invalidation)."""
    ingress = state.ingress
    if ingress is None:
        ingress = state.ingress = Ingress(state.db, state.settings, state.connectors, cache=state.auth_cache)
    assert isinstance(ingress, Ingress)
    return ingress


def _arrival(request: Request, provider: str, integration_id: str, token: str) -> Arrival:
    return Arrival(
        method=request.method,
        provider=provider,
        integration_id=integration_id,
        token=token,
        headers=dict(request.headers),
        query=dict(request.query_params),
        client_ip=request.client.host if request.client else None,
        body=request.stream(),
    )


def _answer(reply: WebhookReply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type)


def _where(provider: str, integration_id: str) -> str:
    """The request's path without its token (never echoed, never logged)."""
    return f"/api/v1/webhooks/{provider}/{integration_id}/***"


def _refusal(exc: SMEFlowError, provider: str, integration_id: str) -> Response:
    return problem(exc.status, exc.code, exc.title, exc.message, instance=_where(provider, integration_id))


@router.post(PATH, summary="Receive a provider's webhook delivery", description=_DESCRIPTION)
async def receive(provider: str, integration_id: str, token: str, request: Request, state: State) -> Response:
    try:
        reply = await ingress_of(state).receive(_arrival(request, provider, integration_id, token))
    except SMEFlowError as exc:
        return _refusal(exc, provider, integration_id)
    except HTTPException:  # the API's own body limit, if it is below the webhook limit
        raise
    except Exception:
        logger.exception("webhook delivery to %s failed", _where(provider, integration_id))
        return internal_error(_where(provider, integration_id))
    return _answer(reply)


@router.get(PATH, summary="Answer a provider's webhook verification handshake", description=_DESCRIPTION)
async def handshake(
    provider: str, integration_id: str, token: str, request: Request, state: State
) -> Response:
    try:
        reply = await ingress_of(state).handshake(_arrival(request, provider, integration_id, token))
    except SMEFlowError as exc:
        return _refusal(exc, provider, integration_id)
    except HTTPException:  # the API's own body limit, if it is below the webhook limit
        raise
    except Exception:
        logger.exception("webhook handshake of %s failed", _where(provider, integration_id))
        return internal_error(_where(provider, integration_id))
    return _answer(reply)
