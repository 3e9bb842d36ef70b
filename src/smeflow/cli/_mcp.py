"""``smeflow mcp --stdio``: a tenant's MCP tools over stdin/stdout, for a desktop assistant or an
IDE that starts its MCP servers as programs. It opens the same database as ``smeflow serve``; the
runs it starts are executed by the workers (``smeflow worker``, or ``serve``'s embedded one).
Over HTTP the same tools are at ``/mcp`` of ``smeflow serve``."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Any

from mcp.server import ServerRequestContext
from mcp.server.stdio import stdio_server

from smeflow.api.mcp import McpBackend, mcp_server
from smeflow.core.context import tenant_id_var
from smeflow.db import Database, DbScope
from smeflow.engine.runtime import RunQueue, Runtime
from smeflow.errors import InvalidCredentials
from smeflow.identity import Authorizer, Principal, authenticate_api_key
from smeflow.settings import Settings

logger = logging.getLogger(__name__)

HELP = """Serve the tenant's tools over MCP (Model Context Protocol).

With --stdio: over stdin/stdout, acting with an API key (--api-key, or the SMEFLOW_MCP_API_KEY
environment variable): its tenant and role decide which tools are listed and allowed.

Without --stdio this only explains: over HTTP the tools are served by `smeflow serve` at /mcp
(Streamable HTTP; send the key as Authorization: Bearer smf_…).
"""

HTTP_NOTE = (
    "Over HTTP, SMEFlow's MCP tools are served by `smeflow serve` at /mcp (Streamable HTTP, "
    "Authorization: Bearer <API key>). For stdin/stdout run `smeflow mcp --stdio --api-key smf_…`."
)


async def _principal(db: Database, api_key: str) -> Principal:
    async with db.transaction(DbScope.auth()) as session:
        return await authenticate_api_key(session, api_key)


async def serve_stdio(settings: Settings, db: Database, api_key: str) -> None:
    """Serve MCP over stdin/stdout with ``api_key``'s tenant and role until stdin closes.

    :class:`~smeflow.errors.InvalidCredentials` at once for a key that is not live; the key is
    checked again on every request, so revoking it stops the server's tools at once."""
    await _principal(db, api_key)  # a bad key fails before anything is served
    async with db.transaction(DbScope.auth()) as session:
        authorizer = await Authorizer.load(session)
    async with AsyncExitStack() as stack:
        runtime = await stack.enter_async_context(
            Runtime(db, settings=settings, allow_private_networks=settings.http_allow_private_networks)
        )
        queue = await stack.enter_async_context(
            RunQueue(
                runtime,
                heartbeat_seconds=settings.worker_heartbeat_seconds,
                dead_after_seconds=settings.worker_dead_after_seconds,
            )
        )

        async def principal_of(ctx: ServerRequestContext[Any, Any]) -> Principal:
            try:
                principal = await _principal(db, api_key)
            except InvalidCredentials:
                raise InvalidCredentials(
                    "The API key this MCP server was started with is no longer valid"
                ) from None
            tenant_id_var.set(str(principal.tenant_id))
            return principal

        server = mcp_server(McpBackend(db, authorizer, queue), principal_of)
        async with stdio_server() as (read, write):
            logger.info("MCP server ready on stdin/stdout")
            await server.run(read, write, server.create_initialization_options())


__all__ = ["HELP", "HTTP_NOTE", "serve_stdio"]
