"""Test fixtures: a real PostgreSQL (embedded by default, or SMEFLOW_DATABASE_URL's server),
migrated once per session into a database of the suite's own; every test starts from empty
tables (truncated as the owner before it runs)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import hypothesis
import psycopg
import pytest
from hypothesis.configuration import set_hypothesis_home_dir
from psycopg import sql
from sqlalchemy import URL

from smeflow.db import Database, DbScope, EmbeddedPostgres, ensure_database, migrate, to_async_url, to_libpq
from smeflow.settings import Settings
from smeflow.tenancy.models import Tenant

# Tests leave no files behind: hypothesis keeps its example database in a temporary folder.
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="smeflow-hypothesis-"))
hypothesis.settings.register_profile("smeflow", database=None, deadline=None)
hypothesis.settings.load_profile("smeflow")

TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"
APP_ROLE = "smeflow_app"
KEEP = {"alembic_version", "authz_rules"}
# The engine schema's queue and checkpoint tables (their migration bookkeeping is kept).
ENGINE_TABLES = [
    "procrastinate_jobs",
    "procrastinate_periodic_defers",
    "procrastinate_events",
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
]


@pytest.fixture(scope="session")
def owner_url() -> Iterator[URL]:
    """The owner URL of a freshly migrated database that exists for this test session only."""
    external = os.environ.get("SMEFLOW_DATABASE_URL")
    name = f"smeflow_test_{secrets.token_hex(4)}"
    embedded: EmbeddedPostgres | None = None
    folder: Path | None = None
    if external:
        server = to_async_url(external)
    else:
        folder = Path(tempfile.mkdtemp(prefix="smeflow-test-pg-"))
        embedded = EmbeddedPostgres(folder / "pg", delete_on_exit=True)
        server = to_async_url(embedded.uri("postgres"))
    ensure_database(server, name)
    url = server.set(database=name)
    migrate(url, APP_ROLE)
    yield url
    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    if embedded is not None:
        embedded.stop()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def _tables(owner_url: URL) -> list[str]:
    with psycopg.connect(to_libpq(owner_url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return sorted(r[0] for r in rows if r[0] not in KEEP)


@pytest.fixture
def clean_db(owner_url: URL, _tables: list[str]) -> URL:
    """Empty every table (as the owner) so the test starts from a blank database: the tenants'
    data in ``public`` and the job queue and checkpoints in ``engine``."""
    tables = [sql.Identifier(t) for t in _tables] + [sql.Identifier("engine", t) for t in ENGINE_TABLES]
    with psycopg.connect(to_libpq(owner_url), autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(sql.SQL(", ").join(tables)))
    return owner_url


@pytest.fixture
def settings(clean_db: URL) -> Settings:
    return Settings(
        _env_file=None,
        env="test",
        secret_key=TEST_SECRET,
        database_url=to_libpq(clean_db),
        database_app_role=APP_ROLE,
        migrate_on_start=False,
        auth_cache_seconds=0,
        embedded_worker=False,
        http_allow_private_networks=True,  # the tests' providers listen on loopback
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


@pytest.fixture
def owner_conn(clean_db: URL) -> Iterator[psycopg.Connection]:
    """A connection as the owner (superuser): to act behind the application's back."""
    with psycopg.connect(to_libpq(clean_db), autocommit=True) as conn:
        yield conn


MakeTenant = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def make_tenant(db: Database) -> MakeTenant:
    """Create a tenant straight in the table (as the platform) and return its id."""

    async def make(slug: str, *, tier: str = "free", status: str = "active") -> uuid.UUID:
        async with db.transaction(DbScope.platform()) as s:
            tenant = Tenant(
                slug=slug,
                name=slug.title(),
                region="ke",
                country="KE",
                currency="KES",
                default_locale="en",
                timezone="Africa/Nairobi",
                tier=tier,
                residency={},
                status=status,
            )
            s.add(tenant)
            await s.flush()
            return tenant.id

    return make


@pytest.fixture
async def tenant_a(make_tenant: MakeTenant) -> uuid.UUID:
    return await make_tenant("alpha")


@pytest.fixture
async def tenant_b(make_tenant: MakeTenant) -> uuid.UUID:
    return await make_tenant("beta")
