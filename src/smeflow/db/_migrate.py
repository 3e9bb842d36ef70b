"""Schema migrations (Alembic), run as the owner role: ``smeflow migrate`` and on first start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(owner_url: URL, app_role: str, app_password: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = owner_url.set(drivername="postgresql+psycopg")
    config.attributes["app_role"] = app_role
    config.attributes["app_password"] = app_password
    return config


def migrate(owner_url: URL, app_role: str, app_password: str | None = None, revision: str = "head") -> None:
    """Bring the database up to ``revision``. Safe to call from several processes at once."""
    command.upgrade(alembic_config(owner_url, app_role, app_password), revision)


__all__ = ["alembic_config", "migrate"]
