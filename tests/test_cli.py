"""The ``smeflow`` command: real processes for ``serve`` (embedded PostgreSQL included), and the
management commands against the suite's database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import URL
from typer.testing import CliRunner

from smeflow.audit import Actor
from smeflow.cli import app
from smeflow.cli._main import console as cli_console
from smeflow.db import Database, DbScope, bind_scope, to_libpq
from smeflow.engine.workflows import create_workflow, publish
from smeflow.settings import Settings
from smeflow.tenancy import get_tenant_by_slug

runner = CliRunner()


def _postgres_running_in(folder: Path) -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "postgres" in cmdline and str(folder) in cmdline:
            return True
    return False


def test_serve_comes_up_on_a_fresh_machine_and_stops_its_database_on_exit() -> None:
    folder = Path(tempfile.mkdtemp(prefix="smeflow-serve-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMEFLOW_")}
    env["SMEFLOW_DATA_DIR"] = str(folder / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "smeflow", "serve", "--port", "0"],
        env=env,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 90
        lines: list[str] = []
        assert proc.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            url = match.group(1) if match else None
        assert url is not None, "".join(lines)
        assert httpx.get(f"{url}/readyz", timeout=10).json() == {"status": "ready"}
        assert httpx.get(f"{url}/api/v1/me", timeout=10).status_code == 401
        assert _postgres_running_in(folder)
        proc.send_signal(signal.SIGTERM)
        # a graceful stop: uvicorn drains, then re-raises SIGTERM, which exits like the signal would
        assert proc.wait(timeout=60) in (0, 128 + signal.SIGTERM)
        assert not _postgres_running_in(folder), "the embedded PostgreSQL outlived serve"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cli_env(clean_db: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMEFLOW_ENV", "test")
    monkeypatch.setenv("SMEFLOW_SECRET_KEY", "cli-test-secret-0123456789abcdef0123456789")
    monkeypatch.setenv("SMEFLOW_DATABASE_URL", to_libpq(clean_db))
    monkeypatch.setenv("SMEFLOW_LOG_LEVEL", "WARNING")


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_management_commands(cli_env: None, owner_conn: psycopg.Connection) -> None:
    _ok("migrate")
    out = _ok(
        "tenants",
        "create",
        "amani-salon",
        "--name",
        "Amani Salon",
        "--country",
        "KE",
        "--owner-email",
        "owner@amani.example",
        "--owner-password",
        "a long password",
    )
    assert "amani-salon" in out
    assert "KES" in out
    assert "amani-salon" in _ok("tenants", "list")
    _ok("users", "create", "staff@amani.example", "--tenant", "amani-salon", "--role", "staff")
    _ok("users", "create", "ops@smeflow.example", "--password", "a long password", "--operator")
    out = _ok("apikeys", "create", "--tenant", "amani-salon", "--name", "website", "--role", "staff")
    key = re.search(r"smf_\S+", out)
    assert key is not None
    key_id = re.search(r"API key (\S+)", out)
    assert key_id is not None
    _ok("apikeys", "revoke", "--tenant", "amani-salon", key_id.group(1))
    revoked = owner_conn.execute(
        "SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = %s", (key_id.group(1),)
    )
    assert revoked.fetchone() == (True,)
    assert "ok" in _ok("audit", "verify")
    # tamper behind the application's back: verify names the event and fails
    owner_conn.execute("UPDATE audit_events SET data = '{\"x\": 1}' WHERE seq = 2")
    result = runner.invoke(app, ["audit", "verify", "--tenant", "amani-salon"])
    assert result.exit_code == 1
    assert "BROKEN" in result.output
    assert "event 2" in result.output


def test_bad_input_is_a_clear_error_and_writes_nothing(cli_env: None, owner_conn: psycopg.Connection) -> None:
    result = runner.invoke(app, ["tenants", "create", "x-shop", "--name", "X", "--country", "XX"])
    assert result.exit_code == 1
    assert "country" in result.output
    result = runner.invoke(app, ["apikeys", "revoke", "--tenant", "nobody", "not-a-uuid"])
    assert result.exit_code == 1
    assert "not a key id" in result.output
    result = runner.invoke(app, ["users", "create", "a@b.example", "--tenant", "no-such-tenant"])
    assert result.exit_code == 1
    assert "not found" in result.output
    assert owner_conn.execute("SELECT count(*) FROM tenants").fetchone() == (0,)
    assert owner_conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def doubler() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Doubler",
        "input_schema": {
            "type": "object",
            "properties": {"amount": {"type": "integer"}},
            "required": ["amount"],
        },
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "prep",
                "kind": "action",
                "config": {"action": "core.set", "input": {"total": "=input.amount * 2"}},
            },
            {"id": "done", "kind": "end", "config": {"output": {"total": "vars.total"}}},
        ],
        "edges": [{"from": "start", "to": "prep"}, {"from": "prep", "to": "done"}],
    }


def publish_doubler(settings: Settings, slug: str) -> None:
    async def work() -> None:
        db = Database.from_settings(settings)
        try:
            async with db.transaction(DbScope.platform()) as session:
                tenant = await get_tenant_by_slug(session, slug)
                await bind_scope(session, DbScope.tenant(tenant.id))
                workflow, _ = await create_workflow(session, Actor.system(), tenant.id, "Doubler", doubler())
                await publish(session, Actor.system(), tenant.id, workflow.id)
        finally:
            await db.dispose()

    asyncio.run(work())


def _fails(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def test_runs_commands(
    cli_env: None, owner_conn: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_console, "width", 160)  # a wide terminal: the tables are not cut
    _ok("tenants", "create", "amani-salon", "--name", "Amani Salon", "--country", "KE")
    monkeypatch.setenv("SMEFLOW_MIGRATE_ON_START", "false")  # migrated by the first command
    publish_doubler(settings, "amani-salon")

    out = _ok("runs", "start", "amani-salon", "Doubler", "--input", '{"amount": 21}')
    queued = re.search(r"run (\S+) queued", out)
    assert queued is not None, out
    jobs = owner_conn.execute("SELECT count(*) FROM engine.procrastinate_jobs WHERE status = 'todo'")
    assert jobs.fetchone() == (1,)  # its job was queued with it

    refused = [
        (("runs", "start", "amani-salon", "Doubler", "--input", '{"amount": "lots"}'), "input.amount"),
        (("runs", "start", "amani-salon", "Doubler", "--input", "amount=2"), "--input is not JSON"),
        (("runs", "start", "amani-salon", "Doubler", "--input", "[2]"), "must be a JSON object"),
        (("runs", "start", "amani-salon", "Doubler", "--version", "2"), "No such version"),
        (("runs", "start", "no-such-shop", "Doubler"), "not found"),
        (("runs", "start", "amani-salon", "Tripler"), "no workflow 'Tripler'"),
        (("runs", "list", "amani-salon", "--status", "done"), "--status must be one of"),
        (("runs", "show", "amani-salon", "not-a-uuid"), "not a run id"),
        (("runs", "show", "amani-salon", str(uuid.uuid4())), "No such run"),
    ]
    for args, words in refused:
        assert words in _fails(*args), args
    assert owner_conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)

    env = {k: v for k, v in os.environ.items()}
    worker = subprocess.Popen(
        [sys.executable, "-m", "smeflow", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        out = _ok(
            "runs", "start", "amani-salon", "Doubler", "--input", '{"amount": 4}', "--wait", "--timeout", "60"
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert "succeeded" in out
    assert '"total": 8' in out
    waited = re.search(r"run (\S+) queued", out)
    assert waited is not None

    listed = _ok("runs", "list", "amani-salon")
    assert waited.group(1) in listed
    assert "Doubler" in listed
    assert "system:cli" in listed
    assert waited.group(1) in _ok("runs", "list", "amani-salon", "--status", "succeeded")

    shown = _ok("runs", "show", "amani-salon", waited.group(1))
    assert "succeeded" in shown
    assert '"amount": 4' in shown
    for step in ("start", "prep", "done"):
        assert step in shown


def test_events_emit(cli_env: None, owner_conn: psycopg.Connection) -> None:
    _ok("migrate")
    _ok("tenants", "create", "amani-salon", "--name", "Amani Salon", "--country", "KE")
    row = owner_conn.execute("SELECT id FROM tenants WHERE slug = 'amani-salon'").fetchone()
    assert row is not None
    tenant = row[0]
    # a workflow started by booking.created, published behind the application's back
    definition = json.dumps(
        {
            "schema_version": 1,
            "name": "Welcome",
            "triggers": [{"kind": "event", "event": "booking.created"}],
            "nodes": [{"id": "start", "kind": "trigger"}, {"id": "done", "kind": "end"}],
            "edges": [{"from": "start", "to": "done"}],
        }
    )
    workflow = uuid.uuid4()
    owner_conn.execute(
        "INSERT INTO workflows VALUES"
        " (%s, %s, 'Welcome', '', 'active', %s, 1, now(), 'tests', now(), 'tests')",
        (tenant, workflow, definition),
    )
    owner_conn.execute(
        "INSERT INTO workflow_versions VALUES (%s, %s, 1, %s, now(), 'tests', '')",
        (tenant, workflow, definition),
    )

    out = _ok(
        "events",
        "emit",
        "amani-salon",
        "booking.created",
        "--payload",
        '{"customer": "Wanjiru"}',
        "--key",
        "b-1",
    )
    assert "started 1 run(s), resumed 0" in out
    run = owner_conn.execute("SELECT input, created_by, status FROM runs").fetchall()
    assert run == [({"customer": "Wanjiru"}, "event:booking.created", "queued")]
    jobs = owner_conn.execute(
        "SELECT count(*) FROM engine.procrastinate_jobs WHERE task_name = 'smeflow.execute_run'"
    )
    assert jobs.fetchone() == (1,)  # deferred: a worker executes it
    assert "emitted before" in _ok("events", "emit", "amani-salon", "booking.created", "--key", "b-1")

    for args, says in [
        (["amani-salon", "booking.created", "--payload", "{not json"], "--payload is not JSON"),
        (
            ["amani-salon", "booking.created", "--payload", "[1, 2]"],
            "payload: the payload must be a JSON object",
        ),
        (["amani-salon", "booking created"], "name: an event name is dotted words"),
        (["nobody", "booking.created"], "not found"),
    ]:
        result = runner.invoke(app, ["events", "emit", *args])
        assert result.exit_code == 1, result.output
        assert says in " ".join(result.output.split()), result.output
    assert owner_conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
    assert owner_conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_agents_commands(cli_env: None, owner_conn: psycopg.Connection) -> None:
    _ok("migrate")
    _ok("tenants", "create", "amani-salon", "--name", "Amani Salon", "--country", "KE")
    config = json.dumps({"languages": ["sw", "en"], "instructions": "Karibu wateja"})
    assert "added" in _ok("agents", "add", "Receptionist", "--tenant", "amani-salon", "--config", config)
    listed = _ok("agents", "list", "--tenant", "amani-salon")
    assert "Receptionist" in listed
    assert "offline" in listed
    answer = _ok("agents", "ask", "Receptionist", "STOP", "--tenant", "amani-salon")
    assert '"intent": "opt_out"' in answer
    assert "0.000000 USD" in answer
    refused = runner.invoke(
        app,
        ["agents", "add", "Clever", "--tenant", "amani-salon", "--config", '{"model": "openai:gpt-4o-mini"}'],
    )
    assert refused.exit_code == 1
    assert "residency policy does not allow the provider 'openai'" in refused.output
    bad = runner.invoke(app, ["agents", "add", "Bad", "--tenant", "amani-salon", "--config", "{nope"])
    assert bad.exit_code == 1
    assert "--config is not JSON" in bad.output
    assert "disabled" in _ok(
        "agents", "set", "Receptionist", "--tenant", "amani-salon", "--status", "disabled"
    )
    assert "calls" in _ok("usage", "--tenant", "amani-salon")
    _ok("agents", "remove", "Receptionist", "--tenant", "amani-salon")
    names = owner_conn.execute("SELECT name FROM agents").fetchall()
    assert names == []


def test_the_demo_seed_is_idempotent_and_gives_each_tenant_a_receptionist(
    cli_env: None, owner_conn: psycopg.Connection
) -> None:
    from smeflow.cli._demo import DEMO_TENANTS, RECEPTIONIST, seed

    _ok("migrate")
    settings = Settings()

    async def twice() -> list[str]:
        db = Database.from_settings(settings)
        try:
            await seed(settings, db)
            return [key for _, key in await seed(settings, db)]
        finally:
            await db.dispose()

    keys = asyncio.run(twice())
    assert len(keys) == len(DEMO_TENANTS)
    agents = owner_conn.execute("SELECT name, config->'languages' FROM agents ORDER BY name").fetchall()
    assert [name for name, _ in agents] == [RECEPTIONIST] * len(DEMO_TENANTS)
    assert sorted(tuple(languages) for _, languages in agents) == sorted(d.languages for d in DEMO_TENANTS)
    answer = _ok("agents", "ask", RECEPTIONIST, "STOP", "--tenant", DEMO_TENANTS[0].data.slug)
    assert '"intent": "opt_out"' in answer
