"""The MCP endpoint of the API (``/mcp``, Streamable HTTP, stateless, JSON answers).

Every HTTP request is authenticated the way the REST API authenticates (``Authorization: Bearer
<API key or access token>`` or ``X-API-Key``), rate-limited the same way, and answered 401 as an
RFC 9457 problem when the credential is missing or not valid, before MCP sees it. Stateless: no
MCP session lives in this process, so any API copy serves any request, and each request acts
with the credential it carries.
"""

from __future__ import annotations

from typing import Any

from fastapi.security import HTTPAuthorizationCredentials
from mcp.server import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from smeflow.api._deps import authenticate
from smeflow.api._problems import problem
from smeflow.api._state import AppState
from smeflow.api.mcp._catalog import McpBackend
from smeflow.api.mcp._server import mcp_server
from smeflow.core.context import tenant_id_var
from smeflow.errors import NotAuthenticated, SMEFlowError
from smeflow.identity import Principal

MCP_PATH = "/mcp"
_PRINCIPAL = "smeflow.principal"


async def _principal_of(ctx: ServerRequestContext[Any, Any]) -> Principal:
    request = ctx.request
    principal = request.scope.get(_PRINCIPAL) if isinstance(request, Request) else None
    if not isinstance(principal, Principal):  # the endpoint always sets it: a request without is a bug
        raise NotAuthenticated("send an API key (Authorization: Bearer smf_…)")
    if principal.tenant_id is not None:
        tenant_id_var.set(str(principal.tenant_id))
    return principal


def mcp_manager(state: AppState) -> StreamableHTTPSessionManager:
    """A Streamable HTTP transport of SMEFlow's MCP server over ``state`` (stateless, JSON
    answers). A manager runs once: the endpoint makes one per request, inside that request's task
    (a stateless one is cheap: it holds no session)."""
    backend = McpBackend(state.db, state.authorizer, state.runs)
    return StreamableHTTPSessionManager(
        app=mcp_server(backend, _principal_of),
        stateless=True,
        json_response=True,
        max_request_body_size=state.settings.max_body_bytes,
    )


def _credentials(request: Request) -> tuple[HTTPAuthorizationCredentials | None, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    bearer = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    return bearer, request.headers.get("x-api-key") or None


class McpEndpoint:
    """The ASGI app mounted at :data:`MCP_PATH`: authenticate, then hand over to the MCP transport."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        state: AppState = request.app.state.smeflow
        bearer, api_key = _credentials(request)
        try:
            principal = await authenticate(request, state, bearer, api_key)
        except SMEFlowError as exc:
            headers = {"WWW-Authenticate": 'Bearer realm="smeflow"'} if exc.status == 401 else None
            answer = problem(exc.status, exc.code, exc.title, exc.message, instance=MCP_PATH, headers=headers)
            await answer(scope, receive, send)
            return
        manager = mcp_manager(state)
        async with manager.run():
            await manager.handle_request({**scope, _PRINCIPAL: principal}, receive, send)


__all__ = ["MCP_PATH", "McpEndpoint", "mcp_manager"]
