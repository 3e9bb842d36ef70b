"""``smeflow runs``: start a tenant's workflow by hand (its manual trigger), list its runs, show one
run's timeline. The commands in ``_main`` parse the arguments; the work is here.

A run started here is stored and audited (actor ``system:cli``) like one started through the API,
its input checked against the workflow's input schema; its job is queued when the start commits,
and a worker (``smeflow worker``, or ``serve``'s own) executes it. ``--wait`` polls until the run
ends or waits for something (a person, a time).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from rich.console import Console
from rich.table import Column, Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor
from smeflow.db import Database, DbScope
from smeflow.engine.models import Workflow
from smeflow.engine.run_models import FINISHED_STATUSES, Run
from smeflow.errors import NotFound
from smeflow.tenancy import get_tenant_by_slug

POLL_SECONDS = 0.5


async def tenant_id_of(db: Database, slug: str) -> uuid.UUID:
    """The id of the tenant ``slug`` (:class:`NotFound` naming it otherwise)."""
    async with db.transaction(DbScope.platform()) as session:
        return (await get_tenant_by_slug(session, slug)).id


async def find_workflow(session: AsyncSession, tenant_id: uuid.UUID, ref: str) -> Workflow:
    """The tenant's workflow with id or name ``ref``."""
    try:
        match = Workflow.id == uuid.UUID(ref)
    except ValueError:
        match = Workflow.name == ref
    found = (
        await session.execute(select(Workflow).where(Workflow.tenant_id == tenant_id, match))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"The tenant has no workflow {ref!r} (give its id or its exact name)")
    return found


async def start(
    db: Database,
    actor: Actor,
    tenant_slug: str,
    workflow_ref: str,
    data: dict[str, Any],
    version: int | None,
) -> Run:
    """Accept a run (``queued``) and queue its job once the start has committed."""
    from smeflow.engine.runtime import RunQueue, Runtime, start_run

    tenant_id = await tenant_id_of(db, tenant_slug)
    async with (
        Runtime(db, pool_size=1) as runtime,
        RunQueue(runtime, pool_size=1) as queue,  # the job is deferred after the commit below
        db.transaction(DbScope.tenant(tenant_id)) as session,
    ):
        workflow = await find_workflow(session, tenant_id, workflow_ref)
        return await start_run(session, actor, tenant_id, workflow.id, data, version, queue=queue)


async def wait_for(db: Database, run: Run, seconds: float) -> Run:
    """The run once it has ended or waits (for a person or a time), or as it is after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        async with db.transaction(DbScope.tenant(run.tenant_id)) as session:
            current = (
                await session.execute(select(Run).where(Run.tenant_id == run.tenant_id, Run.id == run.id))
            ).scalar_one()
        if current.status in FINISHED_STATUSES or current.status == "waiting":
            return current
        if time.monotonic() >= deadline:
            return current
        await asyncio.sleep(POLL_SECONDS)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else _json(value)
    return text if len(text) <= width else text[: width - 1] + "…"


async def list_table(db: Database, tenant_slug: str, status: str | None, limit: int) -> Table:
    """The tenant's newest runs (in ``status`` if given) as a table."""
    from smeflow.engine.runtime import list_runs

    tenant_id = await tenant_id_of(db, tenant_slug)
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        runs = await list_runs(session, tenant_id, limit=limit, status=status)
        rows = await session.execute(
            select(Workflow.id, Workflow.name).where(
                Workflow.tenant_id == tenant_id, Workflow.id.in_({r.workflow_id for r in runs})
            )
        )
        names = {workflow_id: name for workflow_id, name in rows}
    table = Table(
        Column("run", no_wrap=True, min_width=36),  # ids are copied from here: never cut
        "workflow",
        "version",
        "status",
        "created by",
        "created at",
        "error",
    )
    for run in runs:
        table.add_row(
            str(run.id),
            names.get(run.workflow_id, str(run.workflow_id)),
            str(run.version),
            run.status,
            run.created_by,
            run.created_at.isoformat(timespec="seconds"),
            _short(run.error or ""),
        )
    return table


def print_run(console: Console, run: Run) -> None:
    """A run's status and what it was given and gave back."""
    console.print(f"run {run.id}: [bold]{run.status}[/bold]", highlight=False)
    console.print(f"  workflow {run.workflow_id} version {run.version}, by {run.created_by}", highlight=False)
    console.print(f"  input  {_json(run.input)}", highlight=False, soft_wrap=True)
    if run.output is not None:
        console.print(f"  output {_json(run.output)}", highlight=False, soft_wrap=True)
    if run.error:
        console.print(f"  error  {run.error}", highlight=False, soft_wrap=True)


async def show(db: Database, console: Console, tenant_slug: str, run_id: uuid.UUID) -> None:
    """Print one run and its timeline (its steps in the order they ran)."""
    from smeflow.engine.runtime import get_run, list_events

    tenant_id = await tenant_id_of(db, tenant_slug)
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        run = await get_run(session, tenant_id, run_id)
        events = await list_events(session, tenant_id, run_id)
    print_run(console, run)
    times = [("created", run.created_at), ("started", run.started_at), ("finished", run.finished_at)]
    console.print(
        "  " + ", ".join(f"{name} {at.isoformat(timespec='seconds')}" for name, at in times if at),
        highlight=False,
    )
    table = Table("#", "at", "step", "kind", "status", "ms", "output or error")
    for event in events:
        table.add_row(
            str(event.seq),
            event.at.isoformat(timespec="seconds"),
            event.node_id,
            event.kind,
            event.status,
            str(event.duration_ms),
            _short(event.error if event.error else event.output),
        )
    console.print(table)


__all__ = ["find_workflow", "list_table", "print_run", "show", "start", "tenant_id_of", "wait_for"]
