"""``smeflow integrations`` (a tenant's connected provider accounts) and ``smeflow keys rotate``.

Credentials are read from ``--credentials``: a JSON object, ``-`` (standard input) or ``@FILE``
(a file), so they need not be in the shell's history. They are checked against the connector,
sealed, and never printed; what is printed is which credential fields are set and the webhook
URL to paste into the provider's portal (on ``SMEFLOW_PUBLIC_URL``). Changes are audited with
the actor ``system:cli``, like the other management commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from smeflow.connectors import ConnectorRegistry
    from smeflow.db import Database
    from smeflow.settings import Settings

integrations_app = typer.Typer(no_args_is_help=True, help="A tenant's connected provider accounts.")
keys_app = typer.Typer(no_args_is_help=True, help="The secret keys that seal stored credentials.")


def connector_registry() -> ConnectorRegistry:
    """The connectors the commands know: the built-ins and the installed plugins."""
    from smeflow.connectors import default_registry

    return default_registry()


def _fail(message: str) -> typer.Exit:
    from smeflow.cli._main import err

    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def _json_object(option: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # the position only: the text may be a credential
        raise _fail(f"{option} is not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(value, dict):
        raise _fail(f"{option} must be a JSON object")
    return value


def read_credentials(given: str | None) -> dict[str, Any]:
    """``--credentials``: JSON, ``-`` for standard input, ``@FILE`` for a file, or nothing."""
    if given is None:
        return {}
    if given == "-":
        return _json_object("the credentials on standard input", sys.stdin.read())
    if given.startswith("@"):
        path = Path(given[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot read the credentials file {str(path)!r}: {exc.strerror}") from None
        return _json_object(f"the credentials file {str(path)!r}", text)
    return _json_object("--credentials", given)


@integrations_app.command("list")
def integrations_list(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
) -> None:
    """List a tenant's integrations (never their credentials: only which fields are set)."""
    from rich.table import Table

    from smeflow.cli._main import _run, console
    from smeflow.db import DbScope
    from smeflow.integrations import Vault, describe, list_integrations
    from smeflow.tenancy import get_tenant_by_slug

    async def work(settings: Settings, db: Database) -> None:
        async with db.transaction(DbScope.platform()) as session:
            tenant_id = (await get_tenant_by_slug(session, tenant)).id
        async with db.transaction(DbScope.tenant(tenant_id)) as session:
            rows = await list_integrations(session, tenant_id, limit=limit)
        vault = Vault.from_settings(settings)
        table = Table("name", "connector", "status", "id", "credentials set", "checked")
        for row in rows:
            shown = describe(row, vault, public_url=None)
            creds = ", ".join(shown.credentials_set) if shown.credentials_readable else "(unreadable)"
            checked = "never" if row.checked_at is None else ("ok" if row.check_error is None else "failed")
            table.add_row(row.name, row.connector, row.status, str(row.id), creds, checked)
        console.print(table)

    _run(work)


@integrations_app.command("add")
def integrations_add(
    connector: Annotated[str, typer.Argument(help="the connector's key, such as mpesa")],
    name: Annotated[str, typer.Argument(help="a name unique in the tenant")],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    config: Annotated[str, typer.Option(help="the connector's settings: a JSON object")] = "{}",
    credentials: Annotated[
        str | None,
        typer.Option(help="a JSON object; '-' reads it from standard input, '@FILE' from a file"),
    ] = None,
) -> None:
    """Connect a provider account to a tenant; the credentials are sealed and never shown."""
    from pydantic import ValidationError

    from smeflow.cli._main import CLI_ACTOR, _run, console
    from smeflow.db import DbScope, bind_scope
    from smeflow.integrations import Vault, create_integration, describe
    from smeflow.integrations.schemas import IntegrationCreate
    from smeflow.tenancy import get_tenant_by_slug

    settings_given = _json_object("--config", config)
    secret = read_credentials(credentials)
    try:
        data = IntegrationCreate(connector=connector, name=name, config=settings_given, credentials=secret)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(f"the integration is not valid: {problems}") from None
    registry = connector_registry()

    async def work(settings: Settings, db: Database) -> None:
        vault = Vault.from_settings(settings)
        async with db.transaction(DbScope.platform()) as session:
            found = await get_tenant_by_slug(session, tenant)
            await bind_scope(session, DbScope.tenant(found.id))
            row = await create_integration(session, CLI_ACTOR, found.id, registry, vault, data)
        shown = describe(row, vault, public_url=settings.public_url, registry=registry)
        console.print(
            f"integration {row.id} ({row.connector}) {row.name!r} added to {tenant}", highlight=False
        )
        console.print(f"credentials set: {', '.join(shown.credentials_set) or 'none'}", highlight=False)
        if shown.webhook_url:
            console.print(f"webhook URL: {shown.webhook_url}", highlight=False, soft_wrap=True)
        else:
            console.print("set SMEFLOW_PUBLIC_URL to see its webhook URL (or read it in the API)")

    _run(work)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-seal every integration's credentials sealed under an older secret key under the current
    one (keep the old key in SMEFLOW_RETIRED_SECRET_KEYS until this has run). Running it again
    re-seals nothing. Integration credentials only: MFA seeds and workflow webhook secrets are not
    re-sealed by it."""
    from smeflow.cli._main import CLI_ACTOR, _run, console, err
    from smeflow.integrations import RotationReport, Vault, rotate_keys

    async def work(settings: Settings, db: Database) -> tuple[RotationReport, str]:
        vault = Vault.from_settings(settings)
        return await rotate_keys(db, vault, actor=CLI_ACTOR), vault.current_key_id

    report, key_id = _run(work)
    console.print(
        f"re-sealed {report.resealed} integration(s) under key {key_id} ({report.tenants} tenant(s))",
        highlight=False,
    )
    if report.failed:
        for tenant_id, integration_id in report.failed:
            err.print(
                f"[red]cannot open[/red] integration {integration_id} of tenant {tenant_id}: sealed with a "
                "key that is neither SMEFLOW_SECRET_KEY nor in SMEFLOW_RETIRED_SECRET_KEYS",
                highlight=False,
            )
        raise typer.Exit(1)


__all__ = ["connector_registry", "integrations_app", "keys_app", "read_credentials"]
