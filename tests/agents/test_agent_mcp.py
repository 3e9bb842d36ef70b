"""An agent using the tools of an external MCP server named in its config: the model (through
the LLM sandbox) calls the server's tool over real HTTP and answers with its result; a write tool
is journaled, so the same step asking again does not call the server twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from mcp.server import MCPServer

from smeflow.agents import AgentService, MemoryJournal, TurnContext
from smeflow.connectors.sandbox import free_port
from smeflow.db import Database
from smeflow.engine.runtime import Runtime
from smeflow.settings import Settings

from .llm_world import (
    add_agent,
    allow_llm,
    connect_llm,
    llm_sandbox,
    new_key,
    requests_of,
    script,
    with_prices,
)

CALLS: list[str] = []


def shop() -> MCPServer:
    server = MCPServer("shop")

    @server.tool(description="The price of a service, in KES minor units")
    def price(service: str) -> dict[str, int]:
        CALLS.append(f"price:{service}")
        return {"amount_minor": 250000}

    @server.tool(description="Put the customer on the waiting list")
    def waitlist(name: str) -> dict[str, str]:
        CALLS.append(f"waitlist:{name}")
        return {"status": "listed"}

    return server


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    yield from llm_sandbox()


@pytest.fixture
async def shop_url() -> AsyncIterator[str]:
    CALLS.clear()
    port = free_port()
    app = shop().streamable_http_app(stateless_http=True, json_response=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the MCP server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await task


async def test_an_agent_calls_an_external_mcp_tool(
    db: Database, settings: Settings, tenant_a: uuid.UUID, sandbox: str, shop_url: str
) -> None:
    settings = with_prices(settings)
    async with httpx.AsyncClient(timeout=30) as http:
        runtime = Runtime(db, settings=settings, http=http)
        service = getattr(runtime.agents.tenants, "service", None)
        assert isinstance(service, AgentService)
        key = new_key()
        await allow_llm(db, tenant_a)
        await connect_llm(db, settings, runtime, tenant_a, sandbox, key)
        servers = [{"name": "shop", "url": shop_url, "tools": ["price", "waitlist"]}]
        await add_agent(db, runtime, tenant_a, "Helper", mcp_servers=servers, cache=False)
        script(
            sandbox,
            key,
            {"tool_calls": [{"name": "shop__price", "arguments": {"service": "braids"}}]},
            {"tool_calls": [{"name": "shop__waitlist", "arguments": {"name": "Wanjiru"}}], "match": "250000"},
            {"content": "Braids are KES 2,500; you are on the waiting list.", "match": "listed"},
        )
        journal = MemoryJournal()
        ctx = TurnContext(tenant_a, None, None, "step-1", http, journal=journal)
        result = await service.turn(
            ctx, "Helper", instructions=None, given={"text": "How much are braids?"}, language="en"
        )
        assert result.output["reply"] == "Braids are KES 2,500; you are on the waiting list."
        assert [t["tool"] for t in result.output["tools"]] == ["shop.price", "shop.waitlist"]
        assert CALLS == ["price:braids", "waitlist:Wanjiru"]
        assert [spec["function"]["name"] for spec in requests_of(sandbox, key)[0]["body"]["tools"]] == [
            "shop__price",
            "shop__waitlist",
            "handoff_to_human",
        ]
        # the same step executed again replays its journal: neither the model nor the write is asked again
        again = await service.turn(
            ctx, "Helper", instructions=None, given={"text": "How much are braids?"}, language="en"
        )
        assert again.output["reply"] == result.output["reply"]
        # an outside server's tools count as writes unless its config says read: both journaled
        assert CALLS == ["price:braids", "waitlist:Wanjiru"]
        assert len(requests_of(sandbox, key)) == 3
