"""``smeflow agents``: a tenant's agents (list, add, show, set, remove, ask) and ``smeflow usage``.

Agent configurations are JSON (``--config``: a JSON object or ``@FILE``), checked like the API
checks them: the model must be allowed by the tenant's residency policy, tools must exist, a
mentor may not use tools that change anything. Changes are audited as ``system:cli``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from smeflow.db import Database
    from smeflow.settings import Settings

agents_app = typer.Typer(no_args_is_help=True, help="A tenant's agents (automators, mentors, supervisors).")


def _fail(message: str) -> typer.Exit:
    from smeflow.cli._main import err

    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def _config(given: str) -> dict[str, Any]:
    text = given
    if given.startswith("@"):
        path = Path(given[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"--config is not JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    if not isinstance(value, dict):
        raise _fail("--config must be a JSON object")
    return value


async def _known_tools(settings: Settings, db: Database) -> dict[str, str]:
    """The actions this installation offers agents (built-ins and connectors' actions)."""
    import httpx

    from smeflow.engine.runtime import Runtime, known_tools

    async with httpx.AsyncClient() as http:
        return known_tools(Runtime(db, settings=settings, http=http).actions)


@agents_app.command("list")
def agents_list(tenant: Annotated[str, typer.Option(help="tenant slug")]) -> None:
    """List a tenant's agents."""
    from rich.table import Table

    from smeflow.agents.schemas import AgentConfig
    from smeflow.agents.service import list_agents
    from smeflow.cli._main import _run, console
    from smeflow.db import DbScope
    from smeflow.tenancy import get_tenant_by_slug

    async def work(settings: Settings, db: Database) -> None:
        async with db.transaction(DbScope.platform()) as session:
            tenant_id = (await get_tenant_by_slug(session, tenant)).id
        async with db.transaction(DbScope.tenant(tenant_id)) as session:
            rows = await list_agents(session, tenant_id)
        table = Table("name", "type", "model", "status", "tools", "id")
        for row in rows:
            config = AgentConfig.model_validate(row.config)
            table.add_row(row.name, row.type, config.model, row.status, ", ".join(config.tools), str(row.id))
        console.print(table)

    _run(work)


@agents_app.command("add")
def agents_add(
    name: Annotated[str, typer.Argument(help="a name unique in the tenant")],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    type_: Annotated[str, typer.Option("--type", help="automator, mentor or supervisor")] = "automator",
    config: Annotated[str, typer.Option(help="the agent's configuration: JSON or @FILE")] = "{}",
) -> None:
    """Add an agent to a tenant."""
    from pydantic import ValidationError

    from smeflow.agents.schemas import AgentCreate
    from smeflow.agents.service import create_agent
    from smeflow.cli._main import CLI_ACTOR, _run, console
    from smeflow.db import DbScope, bind_scope
    from smeflow.tenancy import get_tenant_by_slug

    try:
        data = AgentCreate.model_validate({"name": name, "type": type_, "config": _config(config)})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(f"the agent is not valid: {problems}") from None

    async def work(settings: Settings, db: Database) -> None:
        tools = await _known_tools(settings, db)
        async with db.transaction(DbScope.platform()) as session:
            found = await get_tenant_by_slug(session, tenant)
            await bind_scope(session, DbScope.tenant(found.id))
            row = await create_agent(session, CLI_ACTOR, found.id, data, tools)
        console.print(f"agent {row.id} ({row.type}) {row.name!r} added to {tenant}", highlight=False)

    _run(work)


@agents_app.command("set")
def agents_set(
    name: Annotated[str, typer.Argument(help="the agent's name")],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    config: Annotated[str | None, typer.Option(help="its new configuration: JSON or @FILE")] = None,
    status: Annotated[str | None, typer.Option(help="active or disabled")] = None,
) -> None:
    """Change an agent's configuration, or disable or enable it."""
    from pydantic import ValidationError

    from smeflow.agents.schemas import AgentUpdate
    from smeflow.agents.service import find_agent, update_agent
    from smeflow.cli._main import CLI_ACTOR, _run, console
    from smeflow.db import DbScope, bind_scope
    from smeflow.tenancy import get_tenant_by_slug

    try:
        patch = AgentUpdate.model_validate(
            {"status": status} | ({"config": _config(config)} if config is not None else {})
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(f"the change is not valid: {problems}") from None

    async def work(settings: Settings, db: Database) -> None:
        tools = await _known_tools(settings, db)
        async with db.transaction(DbScope.platform()) as session:
            found = await get_tenant_by_slug(session, tenant)
            await bind_scope(session, DbScope.tenant(found.id))
            agent = await find_agent(session, found.id, name)
            if agent is None:
                raise _fail(f"{tenant} has no agent named {name!r}")
            row = await update_agent(session, CLI_ACTOR, found.id, agent.id, patch, tools)
        console.print(f"agent {row.name!r} is {row.status}", highlight=False)

    _run(work)


@agents_app.command("remove")
def agents_remove(
    name: Annotated[str, typer.Argument(help="the agent's name")],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
) -> None:
    """Delete an agent (workflows naming it then fail at that step: disable it to pause it)."""
    from smeflow.agents.service import delete_agent, find_agent
    from smeflow.cli._main import CLI_ACTOR, _run, console
    from smeflow.db import DbScope, bind_scope
    from smeflow.tenancy import get_tenant_by_slug

    async def work(settings: Settings, db: Database) -> None:
        async with db.transaction(DbScope.platform()) as session:
            found = await get_tenant_by_slug(session, tenant)
            await bind_scope(session, DbScope.tenant(found.id))
            agent = await find_agent(session, found.id, name)
            if agent is None:
                raise _fail(f"{tenant} has no agent named {name!r}")
            await delete_agent(session, CLI_ACTOR, found.id, agent.id)
        console.print(f"agent {name!r} removed from {tenant}", highlight=False)

    _run(work)


@agents_app.command("ask")
def agents_ask(
    name: Annotated[str, typer.Argument(help="the agent's name")],
    text: Annotated[str, typer.Argument(help="the customer's message")],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    language: Annotated[str | None, typer.Option(help="the customer's language, if known")] = None,
) -> None:
    """Ask an agent one question (outside any workflow, without tools) and print its answer."""
    import uuid

    import httpx

    from smeflow.agents import TurnContext
    from smeflow.cli._main import _run, console
    from smeflow.db import DbScope
    from smeflow.engine.runtime import Runtime
    from smeflow.tenancy import get_tenant_by_slug

    async def work(settings: Settings, db: Database) -> None:
        async with db.transaction(DbScope.platform()) as session:
            tenant_id = (await get_tenant_by_slug(session, tenant)).id
        async with httpx.AsyncClient(timeout=settings.llm_timeout_seconds) as http:
            runtime = Runtime(db, settings=settings, http=http)
            tenants = runtime.agents.tenants
            service = getattr(tenants, "service", None)
            assert service is not None
            ctx = TurnContext(tenant_id, None, None, f"cli:{uuid.uuid4()}", http)
            result = await service.turn(ctx, name, instructions=None, given={"text": text}, language=language)
        console.print_json(json.dumps(result.output, ensure_ascii=False))
        console.print(
            f"confidence {result.confidence:.2f} · {result.model} · {result.tokens_in}+{result.tokens_out} "
            f"tokens · {result.cost_micros / 1_000_000:.6f} USD",
            highlight=False,
        )

    _run(work)


def usage_command(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    days: Annotated[int, typer.Option(min=1, max=366, help="how many days back")] = 30,
) -> None:
    """A tenant's language-model use and cost, by agent and model, and this month's budget."""
    from datetime import timedelta

    from rich.table import Table

    from smeflow.agents import usage
    from smeflow.cli._main import _run, console
    from smeflow.core import utcnow
    from smeflow.db import DbScope
    from smeflow.tenancy import get_tenant_by_slug

    async def work(settings: Settings, db: Database) -> None:
        async with db.transaction(DbScope.platform()) as session:
            found = await get_tenant_by_slug(session, tenant)
        until = utcnow().date()
        async with db.transaction(DbScope.tenant(found.id)) as session:
            report = await usage(session, settings, found, until - timedelta(days=days - 1), until)
        table = Table("by", "calls", "cache hits", "tokens in", "tokens out", "USD", report.currency)
        for row in [report.total, *report.by_agent, *report.by_model]:
            table.add_row(
                row.key,
                str(row.calls),
                str(row.cache_hits),
                str(row.input_tokens),
                str(row.output_tokens),
                f"{row.cost_micros / 1_000_000:.4f}",
                str(row.cost_minor),
            )
        console.print(table)
        console.print(
            f"this month: {report.spent_this_month_micros / 1_000_000:.4f} of "
            f"{report.budget_micros / 1_000_000:.2f} USD"
            + (" — budget spent: agents answer offline" if report.offline_only else ""),
            highlight=False,
        )

    _run(work)


__all__ = ["agents_app", "usage_command"]
