"""``smeflow integrations add/list`` and ``smeflow keys rotate`` against the suite's database, with
the secret key changed between commands as an operator would (``SMEFLOW_SECRET_KEY``,
``SMEFLOW_RETIRED_SECRET_KEYS``)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import URL
from typer.testing import CliRunner

from integrations.kit import GOOD_KEY, GOOD_SECRET, registry
from smeflow.cli import _integrations as cli_integrations
from smeflow.cli import app
from smeflow.db import to_libpq
from smeflow.integrations import Vault

runner = CliRunner()
K1 = "cli-first-secret-0123456789abcdef0123456789"
K2 = "cli-second-secret-0123456789abcdef012345678"
K3 = "cli-third-secret-0123456789abcdef0123456789"


@pytest.fixture
def cli_env(clean_db: URL, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SMEFLOW_ENV", "test")
    monkeypatch.setenv("SMEFLOW_SECRET_KEY", K1)
    monkeypatch.delenv("SMEFLOW_RETIRED_SECRET_KEYS", raising=False)
    monkeypatch.delenv("SMEFLOW_PUBLIC_URL", raising=False)
    monkeypatch.setenv("SMEFLOW_DATABASE_URL", to_libpq(clean_db))
    monkeypatch.setenv("SMEFLOW_MIGRATE_ON_START", "false")  # the suite's database is migrated
    monkeypatch.setenv("SMEFLOW_LOG_LEVEL", "WARNING")
    # the commands' connectors: the built-ins are not written yet, the tests' own stand in
    monkeypatch.setattr(cli_integrations, "connector_registry", registry)
    return monkeypatch


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="smeflow-cli-keys-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _invoke(*args: str, stdin: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def test_add_list_and_rotate_twice(
    cli_env: pytest.MonkeyPatch, owner_conn: psycopg.Connection, folder: Path
) -> None:
    _invoke("tenants", "create", "amani-salon", "--name", "Amani", "--country", "KE")
    config = json.dumps({"account": "123456"})
    # credentials from standard input: not on the command line, so not in the shell's history
    out = _invoke(
        "integrations", "add", "ping", "Till 1", "--tenant", "amani-salon", "--config", config,
        "--credentials", "-", stdin=json.dumps({"api_key": GOOD_KEY}),
    )  # fmt: skip
    assert "credentials set: api_key" in out
    assert GOOD_KEY not in out
    assert "SMEFLOW_PUBLIC_URL" in out
    secrets_file = folder / "paystack.json"
    secrets_file.write_text(json.dumps({"secret_key": GOOD_SECRET, "public_key": "pk_test_1"}))
    cli_env.setenv("SMEFLOW_PUBLIC_URL", "https://flow.example.com")
    out = _invoke(
        "integrations",
        "add",
        "signed",
        "Shop",
        "--tenant",
        "amani-salon",
        "--credentials",
        f"@{secrets_file}",
    )
    assert "credentials set: public_key, secret_key" in out
    assert "webhook URL: https://flow.example.com/api/v1/webhooks/sgn/" in out
    assert GOOD_SECRET not in out
    listed = _invoke("integrations", "list", "--tenant", "amani-salon")
    assert "Till 1" in listed
    assert "Shop" in listed
    assert "api_key" in listed
    assert GOOD_KEY not in listed
    first = Vault(K1).current_key_id
    assert owner_conn.execute("SELECT DISTINCT key_id FROM integrations").fetchall() == [(first,)]

    # a new secret key, the old one retired: rotation re-seals both, then nothing
    cli_env.setenv("SMEFLOW_SECRET_KEY", K2)
    cli_env.setenv("SMEFLOW_RETIRED_SECRET_KEYS", json.dumps([K1]))
    second = Vault(K2).current_key_id
    assert f"re-sealed 2 integration(s) under key {second}" in _invoke("keys", "rotate")
    assert f"re-sealed 0 integration(s) under key {second}" in _invoke("keys", "rotate")
    assert owner_conn.execute("SELECT DISTINCT key_id FROM integrations").fetchall() == [(second,)]
    resealed = owner_conn.execute(
        "SELECT count(*) FROM audit_events WHERE action = 'integration.resealed' AND actor_id = 'cli'"
    )
    assert resealed.fetchone() == (2,)

    # the old key dropped for good: everything still opens
    cli_env.delenv("SMEFLOW_RETIRED_SECRET_KEYS")
    listed = _invoke("integrations", "list", "--tenant", "amani-salon")
    assert "api_key" in listed
    assert "(unreadable)" not in listed
    assert "ok" in _invoke("audit", "verify", "--tenant", "amani-salon")


def test_rotation_without_the_old_key_fails_and_changes_nothing(
    cli_env: pytest.MonkeyPatch, owner_conn: psycopg.Connection
) -> None:
    _invoke("tenants", "create", "amani-salon", "--name", "Amani", "--country", "KE")
    _invoke(
        "integrations", "add", "ping", "Till 1", "--tenant", "amani-salon",
        "--config", '{"account": "123456"}', "--credentials", json.dumps({"api_key": GOOD_KEY}),
    )  # fmt: skip
    before = owner_conn.execute("SELECT sealed_credentials, wrapped_key, key_id FROM integrations").fetchall()
    cli_env.setenv("SMEFLOW_SECRET_KEY", K3)  # K1 is not retired: it is lost
    out = _invoke("keys", "rotate", code=1)
    assert "re-sealed 0 integration(s)" in out
    assert "cannot open integration" in out
    assert (
        owner_conn.execute("SELECT sealed_credentials, wrapped_key, key_id FROM integrations").fetchall()
        == before
    )
    assert "(unreadable)" in _invoke("integrations", "list", "--tenant", "amani-salon")


def test_bad_input_is_named_and_writes_nothing(
    cli_env: pytest.MonkeyPatch, owner_conn: psycopg.Connection, folder: Path
) -> None:
    _invoke("tenants", "create", "amani-salon", "--name", "Amani", "--country", "KE")
    base = ("integrations", "add", "ping", "Till 1", "--tenant", "amani-salon")
    out = _invoke(*base, "--config", '{"account": "1"}', "--credentials", '{"api_key": "x"}', code=1)
    assert "config.account" in out
    assert "credentials.api_key" in out
    out = _invoke(*base, "--credentials", "-", stdin='{"api_key": "sk_live_half', code=1)
    assert "not JSON" in out
    assert "sk_live_half" not in out, "a broken credentials text is not echoed"
    assert "cannot read" in _invoke(*base, "--credentials", f"@{folder / 'missing.json'}", code=1)
    assert "must be a JSON object" in _invoke(*base, "--config", "[1]", code=1)
    assert "unknown connector" in _invoke(
        "integrations", "add", "nope", "X", "--tenant", "amani-salon", code=1
    )
    assert "not found" in _invoke("integrations", "list", "--tenant", "nobody", code=1)
    assert owner_conn.execute("SELECT count(*) FROM integrations").fetchone() == (0,)
