"""Persistence: the embedded or external PostgreSQL, transactions bound to a tenant, migrations.

Key contracts: see ``_database.py``. Business modules declare tables on :class:`Base`; the
schema itself is written by the Alembic migrations in ``migrations/`` (checked against the
models by a test), which also create the application role and every row-level security policy.
"""

from smeflow.db._database import (
    AUTH_CHANNEL,
    Database,
    DbScope,
    Pipelined,
    ScopeKind,
    bind_scope,
    ensure_database,
    notify,
    publish_auth_change,
    to_async_url,
    to_libpq,
)
from smeflow.db._embedded import EmbeddedPostgres
from smeflow.db._migrate import alembic_config, migrate
from smeflow.db.base import Base

__all__ = [
    "AUTH_CHANNEL",
    "Base",
    "Database",
    "DbScope",
    "EmbeddedPostgres",
    "Pipelined",
    "ScopeKind",
    "alembic_config",
    "bind_scope",
    "ensure_database",
    "migrate",
    "notify",
    "publish_auth_change",
    "to_async_url",
    "to_libpq",
]
