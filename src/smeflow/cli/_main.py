"""``smeflow``: serve the API, migrate, manage tenants, users, API keys, start and inspect workflow
runs, emit events, and verify the audit log."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from smeflow.audit import Actor
from smeflow.cli._agents import agents_app, usage_command
from smeflow.cli._integrations import integrations_app, keys_app
from smeflow.cli._mcp import HELP as MCP_HELP
from smeflow.core.logs import configure_logging
from smeflow.db import Database, DbScope, migrate
from smeflow.errors import SMEFlowError
from smeflow.settings import Settings

app = typer.Typer(no_args_is_help=True, help="SMEFlow: automation for African small businesses.")
tenants_app = typer.Typer(no_args_is_help=True, help="Tenants (the platform operator's view).")
users_app = typer.Typer(no_args_is_help=True, help="Users and their roles in tenants.")
apikeys_app = typer.Typer(no_args_is_help=True, help="API keys of a tenant.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
runs_app = typer.Typer(no_args_is_help=True, help="Workflow runs of a tenant: start, list, show.")
events_app = typer.Typer(no_args_is_help=True, help="Events of a tenant (they start and resume runs).")
app.add_typer(tenants_app, name="tenants")
app.add_typer(users_app, name="users")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(audit_app, name="audit")
app.add_typer(runs_app, name="runs")
app.add_typer(events_app, name="events")
app.add_typer(integrations_app, name="integrations")
app.add_typer(keys_app, name="keys")
app.add_typer(agents_app, name="agents")
app.command("usage")(usage_command)

console = Console()
err = Console(stderr=True)
CLI_ACTOR = Actor("system", "cli")
T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = Settings()
    except SMEFlowError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    except ValidationError as exc:
        for error in exc.errors():
            name = "SMEFLOW_" + "__".join(str(part) for part in error["loc"]).upper()
            err.print(f"[red]error:[/red] setting {name}: {error['msg']}")
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, json_lines=settings.log_json)
    return settings


def _run(work: Callable[[Settings, Database], Awaitable[T]], *, settings: Settings | None = None) -> T:
    """Open the database (starting the embedded server if needed), migrate, run ``work``."""
    settings = settings or _settings()
    database = Database.from_settings(settings)

    async def main() -> T:
        try:
            return await work(settings, database)
        finally:
            await database.dispose()

    try:
        if settings.migrate_on_start:
            _migrate(settings, database)
        return asyncio.run(main())
    except SMEFlowError as exc:
        where = f" ({', '.join(f'{f.field}: {f.message}' for f in exc.fields)})" if exc.fields else ""
        err.print(f"[red]error:[/red] {exc.message}{where}")
        raise typer.Exit(1) from exc
    finally:
        database.close()


def _migrate(settings: Settings, database: Database) -> None:
    password = settings.database_app_password
    migrate(database.owner_url, settings.database_app_role, password.get_secret_value() if password else None)


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    database = Database.from_settings(settings)
    try:
        _migrate(settings, database)
    finally:
        database.close()
    console.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (0 = any free port)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes")] = 1,
) -> None:
    """Serve the API (and, with no settings, an embedded PostgreSQL in the data folder)."""
    settings = _settings()
    database = Database.from_settings(settings)  # holds the embedded server for the whole run
    try:
        if settings.migrate_on_start:
            _migrate(settings, database)
        _serve(settings, database, host, port, workers, on_ready=lambda url: None)
    finally:
        database.close()


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, help="runs executed at once")] = None,
) -> None:
    """Execute workflow runs, timers and outbound work (run as many as you like, anywhere)."""
    from smeflow.channels._kit import ChannelKit
    from smeflow.engine.runtime import RunQueue, Runtime
    from smeflow.integrations import integration_workers

    async def work(settings: Settings, db: Database) -> None:
        heartbeat, dead_after = settings.worker_heartbeat_seconds, settings.worker_dead_after_seconds
        async with (
            Runtime(
                db, settings=settings, allow_private_networks=settings.http_allow_private_networks
            ) as runtime,
            RunQueue(runtime, heartbeat_seconds=heartbeat, dead_after_seconds=dead_after) as queue,
        ):
            kit = runtime.integrations
            assert kit is not None  # the runtime has settings
            kit.queue = queue
            channels = ChannelKit.build(
                db, kit.registry, kit.vault, kit.http, queue=lambda: kit.queue, public_url=settings.public_url
            )
            channels.install(runtime.senders)  # send_message on whatsapp, sms and web
            async with integration_workers(
                db,
                settings,
                kit.http,
                connectors=kit.registry,
                handlers=kit.handlers() | channels.handlers(),
                periodic=kit.periodic(settings),
            ):
                console.print(f"worker ready ({concurrency or settings.worker_concurrency} runs at once)")
                await queue.run_worker(concurrency=concurrency or settings.worker_concurrency)

    _run(work)


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (0 = any free port)")] = None,
) -> None:
    """Seed two demo tenants (a salon in Nairobi, a clinic in Lagos) and serve the API."""
    from smeflow.cli._demo import print_welcome, seed

    settings = _settings()
    database = Database.from_settings(settings)
    try:
        _migrate(settings, database)

        async def seed_and_close() -> Any:
            try:
                return await seed(settings, database)
            finally:
                await database.dispose()

        keys = asyncio.run(seed_and_close())
        _serve(settings, database, host, port, 1, on_ready=lambda url: print_welcome(console, url, keys))
    finally:
        database.close()


def _serve(
    settings: Settings,
    database: Database,
    host: str | None,
    port: int | None,
    workers: int,
    on_ready: Callable[[str], None],
) -> None:
    import uvicorn

    from smeflow.api import create_app

    host = host or settings.host
    port = settings.port if port is None else port
    where = f"embedded PostgreSQL in {settings.data_dir / 'pg'}" if database.embedded else "PostgreSQL"
    console.print(f"SMEFlow {settings.env} · database: {where}", highlight=False)
    if workers > 1:
        # Each worker process builds its own settings and app; the schema is already migrated.
        os.environ["SMEFLOW_MIGRATE_ON_START"] = "false"
        console.print(
            f"listening on http://{host}:{port} (API docs: http://{host}:{port}/docs)", highlight=False
        )
        uvicorn.run(
            "smeflow.api:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
        return
    application = create_app(settings.model_copy(update={"migrate_on_start": False}), database=database)
    server = uvicorn.Server(uvicorn.Config(application, host=host, port=port, log_level="warning"))
    original_startup = server.startup

    async def startup(sockets: Any = None) -> None:
        await original_startup(sockets=sockets)
        for listener in server.servers:
            for sock in listener.sockets:
                url = f"http://{host}:{sock.getsockname()[1]}"
                console.print(f"listening on {url} (API docs: {url}/docs)", highlight=False)
                on_ready(url)

    server.startup = startup  # type: ignore[method-assign]
    server.run()


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Argument(help="short name used in URLs, e.g. amani-salon")],
    name: Annotated[str, typer.Option(help="the business's name")],
    country: Annotated[str, typer.Option(help="ISO 3166 code, e.g. KE, NG, ZA")],
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code; default: the country's")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone; default: the country's")] = None,
    locale: Annotated[str | None, typer.Option(help="default locale, e.g. sw_KE")] = None,
    tier: Annotated[str, typer.Option(help="plan: free, starter, business, enterprise")] = "free",
    owner_email: Annotated[str | None, typer.Option(help="make this user the tenant's owner")] = None,
    owner_password: Annotated[str | None, typer.Option(help="password if the owner is new")] = None,
) -> None:
    """Create a tenant (and optionally its owner)."""
    from smeflow.tenancy import TenantCreate, create_tenant

    try:
        data = TenantCreate(
            slug=slug,
            name=name,
            country=country,
            currency=currency,
            timezone=timezone,
            default_locale=locale,
            tier=tier,
        )
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[red]error:[/red] {'.'.join(map(str, error['loc'])) or 'input'}: {error['msg']}")
        raise typer.Exit(1) from exc

    async def work(settings: Settings, db: Database) -> None:
        from smeflow.identity import add_member

        async with db.transaction(DbScope.platform()) as session:
            tenant = await create_tenant(session, settings, CLI_ACTOR, data)
            if owner_email:
                await add_member(session, CLI_ACTOR, tenant.id, owner_email, "owner", password=owner_password)
        console.print(
            f"created tenant [bold]{tenant.slug}[/bold] ({tenant.id}) {tenant.country} {tenant.currency}"
        )

    _run(work)


@tenants_app.command("list")
def tenants_list(limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100) -> None:
    """List tenants."""
    from smeflow.tenancy import list_tenants

    async def work(settings: Settings, db: Database) -> None:
        async with db.transaction(DbScope.platform()) as session:
            tenants = await list_tenants(session, limit=limit)
        table = Table("slug", "name", "country", "currency", "timezone", "tier", "status")
        for t in tenants:
            table.add_row(t.slug, t.name, t.country, t.currency, t.timezone, t.tier, t.status)
        console.print(table)

    _run(work)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument()],
    password: Annotated[
        str | None, typer.Option(help="at least 10 characters; omit for OIDC-only users")
    ] = None,
    name: Annotated[str, typer.Option(help="full name")] = "",
    tenant: Annotated[str | None, typer.Option(help="tenant slug to add the user to")] = None,
    role: Annotated[str, typer.Option(help="owner, admin, staff or viewer")] = "staff",
    operator: Annotated[bool, typer.Option(help="make the user a platform operator")] = False,
) -> None:
    """Create a user (a platform operator, or a member of a tenant)."""
    from smeflow.db import bind_scope
    from smeflow.identity import add_member, create_user, set_platform_role
    from smeflow.tenancy import get_tenant_by_slug

    async def work(settings: Settings, db: Database) -> None:
        if tenant is None:
            async with db.transaction(DbScope.platform()) as session:
                user = await create_user(
                    session, email, password, name, platform_role="operator" if operator else None
                )
            console.print(f"created user {user.email} ({user.id})")
            return
        async with db.transaction(DbScope.platform()) as session:
            found = await get_tenant_by_slug(session, tenant)
            await bind_scope(session, DbScope.tenant(found.id))
            member = await add_member(
                session, CLI_ACTOR, found.id, email, role, password=password, full_name=name
            )
            if operator:
                await bind_scope(session, DbScope.platform())
                await set_platform_role(session, member.user_id, "operator")
        console.print(f"user {email} is {role} of {tenant}")

    _run(work)


@apikeys_app.command("create")
def apikeys_create(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    name: Annotated[str, typer.Option(help="what the key is for")],
    role: Annotated[str, typer.Option(help="owner, admin, staff or viewer")] = "staff",
    scope: Annotated[
        list[str] | None, typer.Option(help="permission such as audit:read; repeat; default all")
    ] = None,
) -> None:
    """Create an API key; the key is printed once and cannot be shown again."""
    from smeflow.db import bind_scope
    from smeflow.identity import Principal, create_api_key
    from smeflow.tenancy import get_tenant_by_slug

    async def work(settings: Settings, db: Database) -> None:
        async with db.transaction(DbScope.platform()) as session:
            found = await get_tenant_by_slug(session, tenant)
            await bind_scope(session, DbScope.tenant(found.id))
            creator = Principal(kind="user", tenant_id=found.id, role="owner", user_id=None)
            plaintext, key = await create_api_key(session, creator, found.id, name, role, scope or ["*"])
        console.print(f"API key {key.id} ({role}) for {tenant}; store it now, it is not shown again:")
        console.print(plaintext, highlight=False, soft_wrap=True)

    _run(work)


@apikeys_app.command("revoke")
def apikeys_revoke(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    key_id: Annotated[str, typer.Argument(help="the key's id")],
) -> None:
    """Revoke an API key at once, in every API process."""
    import uuid

    from smeflow.db import bind_scope
    from smeflow.identity import revoke_api_key
    from smeflow.tenancy import get_tenant_by_slug

    try:
        parsed = uuid.UUID(key_id)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {key_id!r} is not a key id (a UUID)")
        raise typer.Exit(1) from exc

    async def work(settings: Settings, db: Database) -> None:
        async with db.transaction(DbScope.platform()) as session:
            found = await get_tenant_by_slug(session, tenant)
            await bind_scope(session, DbScope.tenant(found.id))
            await revoke_api_key(session, CLI_ACTOR, found.id, parsed)
        console.print(f"revoked {parsed}")

    _run(work)


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[str | None, typer.Option(help="tenant slug; default: every tenant")] = None,
) -> None:
    """Recompute tenants' hash chains and report the first broken link of each."""
    from smeflow.audit import verify_chain
    from smeflow.tenancy import Tenant, get_tenant_by_slug, list_tenants

    async def tenants_to_check(db: Database) -> AsyncIterator[Tenant]:
        after: str | None = None
        while True:
            async with db.transaction(DbScope.platform()) as session:
                page = (
                    [await get_tenant_by_slug(session, tenant)]
                    if tenant
                    else await list_tenants(session, limit=500, after_slug=after)
                )
            for t in page:
                yield t
            if tenant or len(page) < 500:
                return
            after = page[-1].slug

    async def work(settings: Settings, db: Database) -> int:
        broken = 0
        async for t in tenants_to_check(db):
            async with db.transaction(DbScope.tenant(t.id)) as session:
                report = await verify_chain(session, t.id)
            if report.ok:
                console.print(f"[green]ok[/green]     {t.slug}: {report.events_checked} events")
            else:
                broken += 1
                console.print(f"[red]BROKEN[/red] {t.slug}: event {report.broken_seq}: {report.reason}")
        return broken

    if _run(work):
        raise typer.Exit(1)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@runs_app.command("start")
def runs_start(
    tenant: Annotated[str, typer.Argument(help="tenant slug")],
    workflow: Annotated[str, typer.Argument(help="the workflow's id or its exact name")],
    input: Annotated[str, typer.Option("--input", help="the run's input: a JSON object")] = "{}",
    version: Annotated[int | None, typer.Option(min=1, help="a published version; default: newest")] = None,
    wait: Annotated[bool, typer.Option(help="wait until a worker has run it (or it waits)")] = False,
    timeout: Annotated[float, typer.Option(min=0, help="seconds --wait waits at most")] = 300.0,
) -> None:
    """Start a run of a published workflow by hand; its input is checked against the workflow's
    input schema. A worker executes it."""
    import json

    from smeflow.cli._runs import print_run, start, wait_for

    try:
        data = json.loads(input)
    except json.JSONDecodeError as exc:
        raise _fail(f"--input is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _fail('--input must be a JSON object, such as \'{"phone": "+254700000001"}\'')

    async def work(settings: Settings, db: Database) -> str:
        run = await start(db, CLI_ACTOR, tenant, workflow, data, version)
        console.print(f"run {run.id} queued", highlight=False)
        if not wait:
            return run.status
        run = await wait_for(db, run, timeout)
        print_run(console, run)
        return run.status

    status = _run(work)
    if wait and status not in ("succeeded", "waiting"):
        raise typer.Exit(1)


@runs_app.command("list")
def runs_list(
    tenant: Annotated[str, typer.Argument(help="tenant slug")],
    status: Annotated[str | None, typer.Option(help="only runs in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List a tenant's runs, newest first."""
    from smeflow.cli._runs import list_table
    from smeflow.engine.run_models import RUN_STATUSES

    if status is not None and status not in RUN_STATUSES:
        raise _fail(f"--status must be one of {', '.join(RUN_STATUSES)}")

    async def work(settings: Settings, db: Database) -> None:
        console.print(await list_table(db, tenant, status, limit))

    _run(work)


@runs_app.command("show")
def runs_show(
    tenant: Annotated[str, typer.Argument(help="tenant slug")],
    run_id: Annotated[str, typer.Argument(help="the run's id")],
) -> None:
    """Show one run: its status, input, output or error, and its timeline of steps."""
    import uuid

    from smeflow.cli._runs import show

    try:
        parsed = uuid.UUID(run_id)
    except ValueError as exc:
        raise _fail(f"{run_id!r} is not a run id (a UUID)") from exc

    async def work(settings: Settings, db: Database) -> None:
        await show(db, console, tenant, parsed)

    _run(work)


@events_app.command("emit")
def events_emit(
    tenant: Annotated[str, typer.Argument(help="tenant slug")],
    name: Annotated[str, typer.Argument(help="the event's name, such as booking.created")],
    payload: Annotated[str, typer.Option(help="the event's details: a JSON object")] = "{}",
    key: Annotated[str | None, typer.Option(help="emit an event with this key once only")] = None,
) -> None:
    """Emit an event: start the tenant's workflows it triggers, resume its runs waiting for it."""
    import json

    from smeflow.db import bind_scope
    from smeflow.engine.runtime import RunQueue, Runtime, emit_event
    from smeflow.tenancy import get_tenant_by_slug

    try:
        data = json.loads(payload)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --payload is not JSON: {exc}")
        raise typer.Exit(1) from exc

    async def work(settings: Settings, db: Database) -> None:
        async with (
            Runtime(db) as runtime,
            RunQueue(runtime) as queue,  # defers the runs' jobs once the transaction commits
            db.transaction(DbScope.platform()) as session,
        ):
            found = await get_tenant_by_slug(session, tenant)
            await bind_scope(session, DbScope.tenant(found.id))
            emitted = await emit_event(session, found.id, name, data, actor=CLI_ACTOR, queue=queue, key=key)
        event = emitted.event
        if emitted.duplicate:
            console.print(f"event {event.id} with key {key!r} was emitted before; nothing done")
            return
        console.print(
            f"emitted {event.name} ({event.id}) in {tenant}: started {len(emitted.started)} run(s), "
            f"resumed {len(emitted.resumed)}"
        )

    _run(work)


@app.command()
def sandbox(
    providers: Annotated[list[str] | None, typer.Argument(help="sandboxes to serve (default: all)")] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="port of the first sandbox (the next ones follow; 0 = any)")
    ] = 8100,
) -> None:
    """Serve local sandboxes that speak each provider's real protocol (M-Pesa, Paystack…)."""
    from smeflow.cli._sandbox import serve_sandboxes

    configure_logging("WARNING")
    raise typer.Exit(serve_sandboxes(providers or [], host=host, base_port=port, console=console))


@app.command("mcp", help=MCP_HELP)
def mcp_command(
    stdio: Annotated[bool, typer.Option("--stdio", help="serve MCP over stdin/stdout")] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="SMEFLOW_MCP_API_KEY",
            show_envvar=True,
            help="the API key to act with (its tenant and role decide the tools)",
        ),
    ] = None,
) -> None:
    from smeflow.cli._mcp import HTTP_NOTE, serve_stdio  # the MCP SDK only when used

    if not stdio:
        console.print(HTTP_NOTE)
        return
    if not api_key:
        err.print("[red]error:[/red] give the API key to act with: --api-key smf_… or SMEFLOW_MCP_API_KEY")
        raise typer.Exit(2)
    key = api_key
    _run(lambda settings, db: serve_stdio(settings, db, key))


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # A normal exit runs atexit handlers, which release the embedded PostgreSQL.
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app()


__all__ = ["app", "main"]
