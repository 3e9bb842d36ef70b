"""The API's routers, in the order they appear in the OpenAPI document."""

from smeflow.api.routes import apikeys, audit, auth, health, me, tenants, users

ROUTERS = [health.router, auth.router, me.router, tenants.router, users.router, apikeys.router, audit.router]

__all__ = ["ROUTERS"]
