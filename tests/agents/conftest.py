"""The agents tests use the API tests' world (two tenants with a member of each role)."""

from api.conftest import app, client, settings, world

__all__ = ["app", "client", "settings", "world"]
