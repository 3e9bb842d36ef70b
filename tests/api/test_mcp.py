"""MCP over real HTTP: the API served on loopback, the official MCP client over Streamable HTTP;
the tools a key sees and may call, runs started and read, another tenant's workflows and runs out
of reach, write tools that never repeat their effect, and ``smeflow mcp --stdio`` as a process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import mcp_types as types
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from smeflow.audit import Actor
from smeflow.connectors.httpcall import HttpEchoSandbox
from smeflow.connectors.sandbox import SandboxServer, free_port
from smeflow.db import Database, DbScope, to_libpq
from smeflow.identity import create_api_key
from smeflow.settings import Settings

from .conftest import API, PROBLEM_JSON, World
from .test_runs_api import doubler, drain, workflow_over_api

BUILTIN_TOOLS = {"workflows_list", "workflow_start", "run_get"}


@pytest.fixture
async def live(app: FastAPI) -> AsyncIterator[str]:
    """The test's application (its lifespan already entered) served on a loopback port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the API did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def connect(url: str, key: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


def text_of(result: types.CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def refused(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result
    message = text_of(result)
    for leak in ("Traceback", 'File "', "sqlalchemy", "psycopg"):
        assert leak not in message
    return message


async def names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def key_of(db: Database, tenant_id: Any, role: str, scopes: list[str]) -> str:
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        key, _ = await create_api_key(session, Actor.system(), tenant_id, f"mcp {role}", role, scopes)
    return key


async def test_start_a_workflow_and_read_its_run_over_mcp(
    app: FastAPI, client: httpx.AsyncClient, world: World, live: str, owner_conn: psycopg.Connection
) -> None:
    workflow_id = await workflow_over_api(client, world.a.user("admin"), doubler())
    async with connect(live, world.a.api_key) as mcp:
        assert await names(mcp) >= BUILTIN_TOOLS
        listed = (await ok(mcp, "workflows_list", {}))["workflows"]
        assert [(w["id"], w["name"], w["version"]) for w in listed] == [(workflow_id, "Doubler", 1)]
        assert listed[0]["input_schema"]["type"] == "object"

        started = await ok(mcp, "workflow_start", {"workflow": "Doubler", "input": {"amount": 21}})
        assert (started["status"], started["workflow_id"], started["version"]) == ("queued", workflow_id, 1)
        by_id = await ok(mcp, "workflow_start", {"workflow": workflow_id, "input": {"amount": 1}})
        await drain(app)
        run = await ok(mcp, "run_get", {"run_id": started["run_id"]})
        assert (run["status"], run["output"], run["error"]) == ("succeeded", {"total": 42}, None)
        assert (await ok(mcp, "run_get", {"run_id": by_id["run_id"]}))["output"] == {"total": 2}

        assert "arguments.run_id" in await refused(mcp, "run_get", {"run_id": "not-a-run"})
        assert "arguments.workflow" in await refused(mcp, "workflow_start", {"input": {}})
        assert "No such workflow" in await refused(mcp, "workflow_start", {"workflow": "Tripler"})
        assert "No tool named" in await refused(mcp, "mpesa.stk_push", {})
    # audited like the REST start: run.started by the API key
    actors = owner_conn.execute(
        "SELECT actor_type, actor_id FROM audit_events WHERE action = 'run.started' AND target_id = %s",
        (started["run_id"],),
    ).fetchall()
    assert actors == [("api_key", str(world.a.api_key_id))]


async def test_a_missing_or_bad_key_is_a_401_problem(live: str, world: World) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient() as http:
        for headers in ({}, {"Authorization": "Bearer smf_AAAAAAAAAA_" + "x" * 40}, {"X-API-Key": "nope"}):
            answer = await http.post(f"{live}/mcp", json=body, headers=headers)
            assert answer.status_code == 401, answer.text
            assert answer.headers["content-type"].startswith(PROBLEM_JSON)
            assert answer.json()["code"] in ("not_authenticated", "invalid_credentials")
            assert answer.json()["detail"]
            assert answer.headers["www-authenticate"].startswith("Bearer")
    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK's own error for a refused connection
        async with connect(live, "smf_AAAAAAAAAA_" + "x" * 40) as mcp:
            await mcp.list_tools()


async def test_another_tenants_workflows_and_runs_are_not_found(
    app: FastAPI, client: httpx.AsyncClient, world: World, live: str, owner_conn: psycopg.Connection
) -> None:
    workflow_id = await workflow_over_api(client, world.a.user("admin"), doubler())
    async with connect(live, world.a.api_key) as mcp:
        run_id = (await ok(mcp, "workflow_start", {"workflow": "Doubler", "input": {"amount": 2}}))["run_id"]
    async with connect(live, world.b.api_key) as mcp:
        assert (await ok(mcp, "workflows_list", {}))["workflows"] == []
        for workflow in (workflow_id, "Doubler"):
            message = await refused(mcp, "workflow_start", {"workflow": workflow, "input": {"amount": 2}})
            assert "No such workflow" in message
        assert "No such run" in await refused(mcp, "run_get", {"run_id": run_id})
    assert owner_conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)


async def test_a_key_sees_and_calls_only_what_its_role_and_scopes_allow(
    client: httpx.AsyncClient, db: Database, world: World, live: str
) -> None:
    await workflow_over_api(client, world.a.user("admin"), doubler())
    viewer = await key_of(db, world.a.id, "viewer", ["*"])
    narrow = await key_of(db, world.a.id, "admin", ["workflows:read"])
    async with connect(live, viewer) as mcp:
        assert await names(mcp) == {"workflows_list", "run_get"}
        assert "No tool named 'workflow_start'" in await refused(
            mcp, "workflow_start", {"workflow": "Doubler", "input": {"amount": 1}}
        )
    async with connect(live, narrow) as mcp:
        assert await names(mcp) == {"workflows_list"}
        assert "No tool named 'run_get'" in await refused(mcp, "run_get", {"run_id": str(world.a.id)})


@pytest.fixture
def erp() -> Iterator[tuple[HttpEchoSandbox, str]]:
    sandbox = HttpEchoSandbox(bearer_token="erp-token")
    with SandboxServer(sandbox) as url:
        yield sandbox, url


async def test_write_tools_never_repeat_their_effect(
    client: httpx.AsyncClient,
    world: World,
    live: str,
    erp: tuple[HttpEchoSandbox, str],
    owner_conn: psycopg.Connection,
) -> None:
    sandbox, url = erp
    created = await client.post(
        f"{API}/integrations",
        headers=world.a.user("admin"),
        json={
            "connector": "api",
            "name": "ERP",
            "config": {"base_url": url},
            "credentials": {"bearer_token": "erp-token"},
        },
    )
    assert created.status_code == 201, created.text
    posts = lambda: [c for c in sandbox.calls if c[0] == "POST"]  # noqa: E731

    async with connect(live, world.a.api_key) as mcp:
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        assert {"api.get", "api.request"} <= set(tools)
        assert not any(name.startswith(("mpesa.", "payments.")) for name in tools)
        request_schema = tools["api.request"].input_schema
        assert "idempotency_key" in request_schema["required"]
        assert request_schema["properties"]["integration"]["enum"] == ["ERP"]
        assert "idempotency_key" not in tools["api.get"].input_schema.get("properties", {})

        order = {"integration": "ERP", "path": "/orders", "body": {"item": "braids", "qty": 2}}
        first = await ok(mcp, "api.request", order | {"idempotency_key": "order-17"})
        again = await ok(mcp, "api.request", order | {"idempotency_key": "order-17"})
        assert first == again
        assert first["status"] == 200
        assert first["body"]["body"] == {"item": "braids", "qty": 2}
        assert len(posts()) == 1
        other = await ok(mcp, "api.request", order | {"idempotency_key": "order-18"})
        assert len(posts()) == 2
        assert other["body"]["headers"]["idempotency-key"] != first["body"]["headers"]["idempotency-key"]

        assert "idempotency_key" in await refused(mcp, "api.request", order)
        assert "arguments.path" in await refused(
            mcp, "api.request", {"integration": "ERP", "path": "no-slash", "idempotency_key": "k"}
        )
        assert len(posts()) == 2

        read = await ok(mcp, "api.get", {"integration": "ERP", "path": "/orders/17"})
        assert read["body"]["method"] == "GET"
        failed = await refused(mcp, "api.get", {"integration": "ERP", "path": "/status/404"})
        assert "refused" in failed
        assert "404" in failed

    async with connect(live, world.b.api_key) as mcp:  # tenant B has no integration: no such tools
        assert not any(name.startswith("api.") for name in await names(mcp))
        assert "No tool named" in await refused(mcp, "api.request", order | {"idempotency_key": "order-17"})
    assert len(posts()) == 2

    counts = dict(
        owner_conn.execute(
            "SELECT action, count(*) FROM audit_events WHERE action LIKE 'mcp.%%' GROUP BY action"
        ).fetchall()
    )
    assert counts == {"mcp.tool_called": 3, "mcp.tool_failed": 1}


async def test_smeflow_mcp_over_stdio(
    settings: Settings, client: httpx.AsyncClient, world: World, clean_db: Any
) -> None:
    await workflow_over_api(client, world.a.user("admin"), doubler())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMEFLOW_")} | {
        "SMEFLOW_ENV": "test",
        "SMEFLOW_SECRET_KEY": settings.secret_key.get_secret_value(),
        "SMEFLOW_DATABASE_URL": to_libpq(clean_db),
        "SMEFLOW_DATABASE_APP_ROLE": settings.database_app_role,
        "SMEFLOW_MIGRATE_ON_START": "false",
        "SMEFLOW_LOG_LEVEL": "WARNING",
        "SMEFLOW_MCP_API_KEY": world.a.api_key,
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "smeflow", "mcp", "--stdio"], env=env)
    async with Client(params) as mcp:
        assert await names(mcp) >= BUILTIN_TOOLS
        listed = (await ok(mcp, "workflows_list", {}))["workflows"]
        assert [w["name"] for w in listed] == ["Doubler"]
        started = await ok(mcp, "workflow_start", {"workflow": "Doubler", "input": {"amount": 3}})
        assert started["status"] == "queued"
