"""The agents' MCP client against a real MCP server over real HTTP (a small server of the
official SDK on loopback, behind a bearer token): tools listed under the server's name, the
allow-list, the declared effect, results, tool errors and unreachable servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import SecretStr, ValidationError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from smeflow.agents import McpServer, McpToolError, mcp_toolbox, mcp_tools
from smeflow.connectors.sandbox import free_port

TOKEN = "shop-secret-token"


def shop() -> MCPServer:
    server = MCPServer("shop")

    @server.tool(description="Add two numbers")
    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @server.tool(description="Reserve an item")
    def reserve(item: str) -> str:
        raise ToolError(f"{item} is out of stock")

    @server.tool(description="Not for agents")
    def secret() -> str:
        return "hidden"

    return server


def guarded(app: ASGIApp) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and headers.get(b"authorization") != f"Bearer {TOKEN}".encode():
            await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
            return
        await app(scope, receive, send)

    return asgi


@pytest.fixture
async def shop_url() -> AsyncIterator[str]:
    port = free_port()
    app = shop().streamable_http_app(stateless_http=True, json_response=True)
    server = uvicorn.Server(uvicorn.Config(guarded(app), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the MCP server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await task


def config(url: str, **extra: Any) -> McpServer:
    return McpServer(name="shop", url=url, headers={"Authorization": SecretStr(f"Bearer {TOKEN}")}, **extra)


async def test_tools_of_a_server_held_open(shop_url: str) -> None:
    async with mcp_tools([config(shop_url, tools=["add", "reserve"])]) as toolbox:
        assert sorted(spec.name for spec in toolbox.specs) == ["shop.add", "shop.reserve"]
        add = toolbox.by_llm_name("shop__add")
        assert add is not None
        assert add.effect == "write"  # what an outside tool is assumed to do unless told
        assert add.description == "Add two numbers"
        assert set(add.input_schema["properties"]) == {"a", "b"}
        assert await toolbox.call("shop.add", {"a": 2, "b": 3}, "0") == {"sum": 5}
        assert await toolbox.call("shop.add", {"a": 10, "b": -1}, "1") == {"sum": 9}
        with pytest.raises(McpToolError, match=r"shop\.reserve failed: .*braids is out of stock"):
            await toolbox.call("shop.reserve", {"item": "braids"}, "2")
        with pytest.raises(McpToolError, match=r"no MCP tool named .shop\.secret."):
            await toolbox.call("shop.secret", {}, "3")


async def test_a_toolbox_that_connects_per_call(shop_url: str) -> None:
    toolbox = await mcp_toolbox([config(shop_url, effect="read")])
    assert sorted(spec.name for spec in toolbox.specs) == ["shop.add", "shop.reserve", "shop.secret"]
    assert {spec.effect for spec in toolbox.specs} == {"read"}
    assert await toolbox.call("shop.add", {"a": 1, "b": 1}, "0") == {"sum": 2}
    assert await toolbox.call("shop.secret", {}, "1") == {"result": "hidden"}


async def test_a_server_that_refuses_or_is_not_there_is_a_readable_error(shop_url: str) -> None:
    with pytest.raises(McpToolError, match="the MCP server shop could not be used") as refused:
        await mcp_toolbox([McpServer(name="shop", url=shop_url)])
    assert TOKEN not in refused.value.message
    gone = f"http://127.0.0.1:{free_port()}/mcp"
    with pytest.raises(McpToolError, match="the MCP server shop could not be used"):
        async with mcp_tools([McpServer(name="shop", url=gone)]):
            pass


def test_the_config_takes_http_servers_only() -> None:
    for url in ("stdio://python -m evil", "file:///bin/sh", "python server.py", "http://"):
        with pytest.raises(ValidationError, match="http:// or https://"):
            McpServer(name="x", url=url)
    with pytest.raises(ValidationError):
        McpServer(name="has space", url="https://tools.example/mcp")
    with pytest.raises(ValidationError):
        McpServer(name="x", url="https://tools.example/mcp", effect="money")  # type: ignore[arg-type]


async def test_server_names_must_differ() -> None:
    twice = [
        McpServer(name="a", url="https://one.example/mcp"),
        McpServer(name="a", url="https://two.example/mcp"),
    ]
    with pytest.raises(ValueError, match="a is used more than once"):
        await mcp_toolbox(twice)
