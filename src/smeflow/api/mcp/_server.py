"""The MCP server (the SDK's low-level :class:`~mcp.server.Server`): lists the caller's tools and
calls them. Who the caller is comes from ``principal_of`` (the HTTP endpoint's authenticated
request, or the key ``smeflow mcp --stdio`` was started with)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
import orjson
from mcp.server import Server, ServerRequestContext
from pydantic import JsonValue

from smeflow import __version__
from smeflow.api.mcp._calls import call
from smeflow.api.mcp._catalog import McpBackend, catalog
from smeflow.errors import SMEFlowError
from smeflow.identity import Principal

logger = logging.getLogger(__name__)

PrincipalOf = Callable[[ServerRequestContext[Any, Any]], Awaitable[Principal]]

INSTRUCTIONS = (
    "SMEFlow: a business's workflows and connected systems. List the published workflows with "
    "workflows_list, start one with workflow_start and follow it with run_get. Write tools need an "
    "idempotency_key: repeat a call with the same key and the change is not repeated. Money moves "
    "only inside workflows, where a person approves it."
)


def _tool(spec: Any) -> types.Tool:
    read = spec.effect == "read"
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.input_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=read, destructive_hint=False if read else None, idempotent_hint=read or None
        ),
    )


def tool_error(message: str) -> types.CallToolResult:
    """A tool error an MCP client shows its model: SMEFlow's readable message, nothing else."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def tool_result(result: JsonValue) -> types.CallToolResult:
    """A tool's JSON result: as structured content (an object) and as its JSON text."""
    text = orjson.dumps(result).decode()
    structured = result if isinstance(result, dict) else {"result": result}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured
    )


def _readable(exc: SMEFlowError) -> str:
    if exc.fields and not all(p.field in exc.message for p in exc.fields):
        return exc.message + " (" + ", ".join(f"{p.field}: {p.message}" for p in exc.fields) + ")"
    return exc.message


def mcp_server(backend: McpBackend, principal_of: PrincipalOf) -> Server[Any]:
    """The MCP server of SMEFlow's tools over ``backend``."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = await principal_of(ctx)
        return types.ListToolsResult(tools=[_tool(spec) for spec in await catalog(backend, principal)])

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            principal = await principal_of(ctx)
            return tool_result(await call(backend, principal, params.name, dict(params.arguments or {})))
        except SMEFlowError as exc:
            return tool_error(_readable(exc))
        except Exception:
            logger.exception("MCP tool %s failed", params.name)
            return tool_error(f"The tool {params.name} failed inside SMEFlow; the error is logged")

    return Server(
        "smeflow",
        version=__version__,
        title="SMEFlow",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


__all__ = ["INSTRUCTIONS", "PrincipalOf", "mcp_server", "tool_error", "tool_result"]
