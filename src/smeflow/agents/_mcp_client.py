"""Tools of external MCP servers for agents: an agent's config names servers, the agent gets
their tools as a :class:`~smeflow.agents.Toolbox`.

Key contracts:

* Streamable HTTP only (``http``/``https`` URLs): we never start a program a tenant names.
* A tool is known to the agent as ``<server name>.<tool>``; ``tools`` (an allow-list) narrows
  what a server offers; every tool of a server carries the server's declared ``effect``
  (``write`` unless the config says ``read``: an outside tool may change things).
* A call answers the tool's structured content, else its text content parsed as JSON (or the
  text itself); a tool error, an unreachable server or a broken answer is :class:`McpToolError`
  with a readable message (never the headers: they may hold credentials).
* :func:`mcp_tools` holds one MCP session per server for the ``async with`` block;
  :func:`mcp_toolbox` lists the tools once and connects afresh for each call (nothing to close).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Literal

import httpx2
import mcp_types as types
import orjson
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel, ConfigDict, Field, JsonValue, SecretStr, field_validator

from smeflow.agents._tools import Toolbox, ToolSpec

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
MAX_TOOLS_PER_SERVER = 200
MAX_PAGES = 20

#: ``factory(headers, timeout)`` → the HTTP client one MCP connection uses (tests and the engine
#: pass their own: a guarded one, a transport of their choosing)
HttpClientFactory = Callable[[dict[str, str], float], httpx2.AsyncClient]


class McpServer(BaseModel):
    """An external MCP server an agent may use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$",
        description="what its tools are prefixed with: <name>.<tool>",
    )
    url: str = Field(max_length=2000, description="its Streamable HTTP endpoint, http:// or https://")
    headers: dict[str, SecretStr] | None = Field(
        None, description="headers sent with every request (credentials)"
    )
    tools: list[str] | None = Field(None, description="only these of its tools (default: all)")
    effect: Literal["read", "write"] = Field(
        "write", description="the effect its tools are assumed to have (an outside tool may change things)"
    )

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        parsed = httpx2.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("an MCP server is reached over Streamable HTTP: give an http:// or https:// URL")
        return url


class McpToolError(Exception):
    """A tool of an MCP server failed, or the server could not be used; ``message`` says why."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def default_http_client(headers: dict[str, str], timeout: float) -> httpx2.AsyncClient:
    """A plain HTTP client with ``headers`` and ``timeout`` (connect, read, write, pool)."""
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(timeout))


def _result(server: str, tool: str, result: types.CallToolResult) -> JsonValue:
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    if result.is_error:
        detail = " ".join(texts).strip() or "no reason given"
        raise McpToolError(f"{server}.{tool} failed: {detail[:2000]}")
    if result.structured_content is not None:
        structured: JsonValue = orjson.loads(orjson.dumps(result.structured_content))
        return structured
    text = "\n".join(texts)
    try:
        parsed: JsonValue = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return parsed


async def _listing(server: McpServer, client: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        try:
            page = await client.list_tools(cursor=cursor)
        except Exception as exc:
            raise McpToolError(
                f"the MCP server {server.name} did not list its tools ({_reason(exc)})"
            ) from None
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor or len(tools) >= MAX_TOOLS_PER_SERVER:
            break
    wanted = set(server.tools) if server.tools is not None else None
    if wanted is not None:
        missing = wanted - {tool.name for tool in tools}
        if missing:
            logger.warning("MCP server %s has no tools named %s", server.name, ", ".join(sorted(missing)))
        tools = [tool for tool in tools if tool.name in wanted]
    return tools[:MAX_TOOLS_PER_SERVER]


def _spec(server: McpServer, tool: types.Tool) -> ToolSpec:
    schema: dict[str, Any] = dict(tool.input_schema or {"type": "object"})
    return ToolSpec(
        f"{server.name}.{tool.name}", tool.description or tool.title or tool.name, schema, server.effect
    )


class _Connection:
    """One MCP client session with one server."""

    def __init__(self, server: McpServer, factory: HttpClientFactory, timeout: float) -> None:
        self.server = server
        self.factory = factory
        self.timeout = timeout

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Client]:
        """A connected client; :class:`McpToolError` if the server cannot be reached or refuses
        (errors of the caller's own ``async with`` block pass through unchanged)."""
        headers = {k: v.get_secret_value() for k, v in (self.server.headers or {}).items()}
        async with AsyncExitStack() as stack:
            try:
                http = await stack.enter_async_context(self.factory(headers, self.timeout))
                transport = streamable_http_client(self.server.url, http_client=http)
                client = await stack.enter_async_context(Client(transport, read_timeout_seconds=self.timeout))
            except Exception as exc:
                raise McpToolError(
                    f"the MCP server {self.server.name} could not be used ({_reason(exc)})"
                ) from None
            yield client

    async def call(self, client: Client, tool: str, arguments: dict[str, Any]) -> JsonValue:
        try:
            result = await client.call_tool(tool, arguments)
        except Exception as exc:
            raise McpToolError(f"{self.server.name}.{tool} failed ({_reason(exc)})") from None
        return _result(self.server.name, tool, result)


def _leaf(exc: BaseException) -> BaseException:
    """The first error inside (nested) exception groups: what actually went wrong."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _reason(exc: BaseException) -> str:
    exc = _leaf(exc)
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"it answered {exc.response.status_code}"
    if isinstance(exc, httpx2.ConnectError):
        return "it could not be reached"
    if isinstance(exc, httpx2.TimeoutException):
        return "it did not answer in time"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _check_names(servers: Sequence[McpServer]) -> None:
    names = [server.name for server in servers]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"MCP server names must differ; {', '.join(twice)} is used more than once")


def _split(name: str, known: dict[str, tuple[int, str]]) -> tuple[int, str]:
    found = known.get(name)
    if found is None:
        raise McpToolError(f"no MCP tool named {name!r} is available")
    return found


@asynccontextmanager
async def mcp_tools(
    servers: Sequence[McpServer],
    *,
    request_timeout: float = DEFAULT_TIMEOUT,
    http_client_factory: HttpClientFactory | None = None,
) -> AsyncIterator[Toolbox]:
    """``async with mcp_tools(servers) as toolbox:`` the servers' tools, over one session per
    server held open for the block. :class:`McpToolError` if a server cannot be reached or listed."""
    _check_names(servers)
    factory = http_client_factory or default_http_client
    connections = [_Connection(server, factory, request_timeout) for server in servers]
    async with AsyncExitStack() as stack:
        clients: list[Client] = []
        specs: list[ToolSpec] = []
        known: dict[str, tuple[int, str]] = {}
        for index, connection in enumerate(connections):
            client = await stack.enter_async_context(connection.open())
            clients.append(client)
            tools = await _listing(connection.server, client)
            for tool in tools:
                spec = _spec(connection.server, tool)
                specs.append(spec)
                known[spec.name] = (index, tool.name)

        async def call(name: str, arguments: dict[str, Any], call_id: str) -> JsonValue:
            index, tool = _split(name, known)
            return await connections[index].call(clients[index], tool, arguments)

        yield Toolbox(tuple(specs), call)


async def mcp_toolbox(
    servers: Sequence[McpServer],
    *,
    request_timeout: float = DEFAULT_TIMEOUT,
    http_client_factory: HttpClientFactory | None = None,
) -> Toolbox:
    """The servers' tools, listed now; each call connects to its server afresh (no session is
    held, so the toolbox may be kept and used from any task). :class:`McpToolError` if a server
    cannot be reached or listed."""
    _check_names(servers)
    factory = http_client_factory or default_http_client
    connections = [_Connection(server, factory, request_timeout) for server in servers]
    specs: list[ToolSpec] = []
    known: dict[str, tuple[int, str]] = {}
    for index, connection in enumerate(connections):
        async with connection.open() as client:
            tools = await _listing(connection.server, client)
        for tool in tools:
            spec = _spec(connection.server, tool)
            specs.append(spec)
            known[spec.name] = (index, tool.name)

    async def call(name: str, arguments: dict[str, Any], call_id: str) -> JsonValue:
        index, tool = _split(name, known)
        connection = connections[index]
        async with connection.open() as client:
            return await connection.call(client, tool, arguments)

    return Toolbox(tuple(specs), call)


__all__ = [
    "DEFAULT_TIMEOUT",
    "HttpClientFactory",
    "McpServer",
    "McpToolError",
    "default_http_client",
    "mcp_toolbox",
    "mcp_tools",
]
