"""agents"""

from smeflow.agents._mcp_client import McpServer, McpToolError, mcp_toolbox, mcp_tools
from smeflow.agents._tools import Effect, Toolbox, ToolCall, ToolSpec, llm_name, toolbox

__all__ = [
    "Effect",
    "McpServer",
    "McpToolError",
    "ToolCall",
    "ToolSpec",
    "Toolbox",
    "llm_name",
    "mcp_toolbox",
    "mcp_tools",
    "toolbox",
]
