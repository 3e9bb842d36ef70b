"""Connections, transactions and the tenant binding.

Key contracts:
- The application connects as ``settings.database_app_role``: a role that owns no table and is
  not a superuser, so PostgreSQL's row-level security applies to everything it reads or writes.
- Every transaction is opened through :meth:`Database.transaction` with a :class:`DbScope`;
  that is the one place the tenant (and user, and scope) are bound, with ``set_config(...,
  true)`` so the binding ends with the transaction and never leaks to the next user of a
  pooled connection.
- Services flush; the caller of ``transaction`` commits (a change and its audit record
  commit together).
- Hot paths that need no ORM (the workflow runtime's claim and finish) use
  :meth:`Database.pipeline`: the same pool, the same binding (:func:`bind_scope`), on the bare
  psycopg connection in pipeline mode, so a whole transaction can be one round trip.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql
from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from smeflow.db._embedded import EmbeddedPostgres
from smeflow.settings import Settings

logger = logging.getLogger(__name__)

ScopeKind = Literal["tenant", "auth", "platform"]

# Bound with set_config(..., true): local to the transaction, so it never outlives it.
_BIND = (
    "SELECT set_config('smeflow.tenant_id', %s, true),"
    " set_config('smeflow.user_id', %s, true),"
    " set_config('smeflow.scope', %s, true)"
)


@dataclass(frozen=True, slots=True)
class DbScope:
    """What one transaction may see.

    ``tenant``: one tenant's rows (and the bound user's own rows).
    ``auth``: the narrow cross-tenant reads that authentication needs (a user by email, an API
    key by prefix) before a tenant is known.
    ``platform``: the operator's view of the tenants table.
    """

    kind: ScopeKind
    tenant_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None

    @classmethod
    def tenant(cls, tenant_id: uuid.UUID, user_id: uuid.UUID | None = None) -> DbScope:
        return cls("tenant", tenant_id, user_id)

    @classmethod
    def auth(cls, user_id: uuid.UUID | None = None) -> DbScope:
        return cls("auth", None, user_id)

    @classmethod
    def platform(cls, user_id: uuid.UUID | None = None) -> DbScope:
        return cls("platform", None, user_id)


def to_async_url(url: str) -> URL:
    """``postgresql://…`` (libpq form) → the SQLAlchemy URL for async psycopg."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg")


def to_libpq(url: URL) -> str:
    """A SQLAlchemy URL → a libpq conninfo string psycopg accepts."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Database:
    """The application's database: an engine as the application role, and transactions."""

    def __init__(
        self,
        owner_url: URL,
        app_url: URL,
        *,
        pool_size: int = 10,
        embedded: EmbeddedPostgres | None = None,
    ) -> None:
        self.owner_url = owner_url
        self.app_url = app_url
        self.embedded = embedded
        # At most twice pool_size connections, as before, but all kept: a pool that closes what it
        # took beyond pool_size opens a new connection (a libpq connect and authentication) for
        # every request while the process is busy, about a tenth of a webhook delivery's CPU.
        self.engine: AsyncEngine = create_async_engine(
            app_url, pool_size=2 * pool_size, max_overflow=0, pool_recycle=1800
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, embedded: EmbeddedPostgres | None = None) -> Database:
        """Resolve where the database is (starting the embedded server if no URL is set)."""
        if settings.database_url is not None:
            owner = to_async_url(settings.database_url.get_secret_value())
        else:
            if embedded is None:
                embedded = EmbeddedPostgres(settings.data_dir / "pg")
            owner = to_async_url(embedded.uri("smeflow"))
            ensure_database(to_async_url(embedded.uri("postgres")), "smeflow")
        password = (
            settings.database_app_password.get_secret_value() if settings.database_app_password else None
        )
        app = owner.set(username=settings.database_app_role, password=password)
        return cls(owner, app, pool_size=settings.database_pool_size, embedded=embedded)

    @asynccontextmanager
    async def transaction(self, scope: DbScope) -> AsyncIterator[AsyncSession]:
        """A transaction bound to ``scope``; commits when the block ends, rolls back on error."""
        async with self._sessions() as session, session.begin():
            await bind_scope(session, scope)
            yield session

    @asynccontextmanager
    async def pipeline(self, scope: DbScope) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A transaction bound to ``scope`` on the pooled connection's bare psycopg connection, in
        pipeline mode: statements are queued (``BEGIN``, the binding, what the block executes,
        ``COMMIT``) and sent together; reading a result waits for what was queued before it.
        Commits when the block ends, rolls back on error. For hot paths with hand-written SQL."""
        async with self.pipelined() as pipelined, pipelined.transaction(scope) as connection:
            yield connection

    @asynccontextmanager
    async def pipelined(self) -> AsyncIterator[Pipelined]:
        """A pooled connection's bare psycopg connection in pipeline mode, for several transactions
        (:meth:`Pipelined.transaction`) sent together: what is queued after a transaction's
        ``COMMIT`` goes in the same round trip. The connection is in autocommit mode meanwhile so
        that psycopg adds no ``BEGIN`` (and no round trip) of its own: each transaction is an
        explicit ``BEGIN`` … ``COMMIT``, and one left open by an error is rolled back here."""
        async with self.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, psycopg.AsyncConnection)
            await driver.set_autocommit(True)
            try:
                async with driver.pipeline():
                    yield Pipelined(driver)
            finally:
                if driver.pgconn.status == psycopg.pq.ConnStatus.OK:
                    if driver.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        await driver.execute("ROLLBACK")
                    await driver.set_autocommit(False)

    async def dispose(self) -> None:
        await self.engine.dispose()

    def close(self) -> None:
        """Release the embedded server handle, if this process holds one."""
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


class Pipelined:
    """A bare psycopg connection in pipeline mode (:meth:`Database.pipelined`)."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection

    @asynccontextmanager
    async def transaction(self, scope: DbScope) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A transaction bound to ``scope`` (:func:`bind_scope`): ``BEGIN``, the binding, what the
        block executes, ``COMMIT``, all queued (sent with the pipeline's next round trip). An
        error in the block skips the ``COMMIT``: :meth:`Database.pipelined` rolls back."""
        await self.connection.execute("BEGIN")
        await bind_scope(self.connection, scope)
        yield self.connection
        await self.connection.execute("COMMIT")


async def bind_scope(target: AsyncSession | psycopg.AsyncConnection[Any], scope: DbScope) -> None:
    """Bind ``scope`` to the current transaction of a session (or of a bare psycopg connection,
    see :meth:`Database.pipeline`): the one place this is done.

    Called by :meth:`Database.transaction` and :meth:`Database.pipeline`; a service calls it
    directly only to move an open transaction from one scope to another (creating a tenant, then
    writing its first rows). The statement goes straight to the driver: it runs on every
    request, and SQLAlchemy's statement machinery would double its cost.
    """
    if isinstance(target, psycopg.AsyncConnection):
        driver: Any = target
    else:
        connection = await target.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
    await driver.execute(
        _BIND,
        (
            str(scope.tenant_id) if scope.tenant_id else "",
            str(scope.user_id) if scope.user_id else "",
            scope.kind,
        ),
    )


async def notify(session: AsyncSession, channel: str, payload: str) -> None:
    """``pg_notify`` in the session's transaction: listeners hear it only if it commits."""
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


AUTH_CHANNEL = "smeflow_auth"


async def publish_auth_change(session: AsyncSession, key: str = "*") -> None:
    """Tell every API process, when this transaction commits, to forget the verified credential
    cached under ``key`` (``"*"``: everything), because what it grants or shows has changed."""
    await notify(session, AUTH_CHANNEL, key)


def ensure_database(server_url: URL, name: str) -> None:
    """Create database ``name`` on the server at ``server_url`` if it does not exist."""
    with psycopg.connect(to_libpq(server_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            logger.info("created database %s", name)


__all__ = [
    "Database",
    "Pipelined",
    "bind_scope",
    "notify",
    "DbScope",
    "ScopeKind",
    "ensure_database",
    "to_async_url",
    "to_libpq",
]
