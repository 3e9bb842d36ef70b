"""SMEFlow's tools over the Model Context Protocol: ``/mcp`` of the API (Streamable HTTP) and
``smeflow mcp --stdio``.

Key contracts:

* Tools: ``workflows_list`` (``workflows:read``), ``workflow_start`` (``runs:write``; the runs
  service's own start: input checked, queued, audited ``run.started``, its job written in the same
  transaction), ``run_get`` (``runs:read``), and the read and write actions of the connectors
  the tenant has an active integration of (``runs:write`` and ``integrations:read``). Money
  actions are never tools: money moves only inside workflows, where a person approves it.
* A caller sees only the tools it may call; calling another is "No tool named …"; another
  tenant's workflow or run is "not found" (the database session is bound to the caller's tenant).
* Write tools take a required ``idempotency_key``: the effect happens once per (tenant, tool,
  key), journaled in the audit log (see :mod:`smeflow.api.mcp._calls`).
* Errors come back as MCP tool errors carrying SMEFlow's readable message, never a trace.
"""

from smeflow.api.mcp._calls import call, call_key
from smeflow.api.mcp._catalog import BUILTINS, CONNECTOR_PERMISSIONS, McpBackend, catalog
from smeflow.api.mcp._http import MCP_PATH, McpEndpoint, mcp_manager
from smeflow.api.mcp._server import INSTRUCTIONS, PrincipalOf, mcp_server, tool_error, tool_result

__all__ = [
    "BUILTINS",
    "CONNECTOR_PERMISSIONS",
    "INSTRUCTIONS",
    "MCP_PATH",
    "McpBackend",
    "McpEndpoint",
    "PrincipalOf",
    "call",
    "call_key",
    "catalog",
    "mcp_manager",
    "mcp_server",
    "tool_error",
    "tool_result",
]
