"""The API's routers, in the order they appear in the OpenAPI document."""

from smeflow.api.routes import (
    agents,
    apikeys,
    approvals,
    audit,
    auth,
    bookings,
    connectors,
    events,
    forms,
    health,
    hooks,
    integrations,
    me,
    payments,
    runs,
    tenants,
    users,
    webhooks,
    workflows,
)

ROUTERS = [
    health.router,
    auth.router,
    me.router,
    tenants.router,
    users.router,
    apikeys.router,
    audit.router,
    workflows.router,
    runs.router,
    approvals.router,
    hooks.router,
    webhooks.router,
    forms.router,
    events.router,
    payments.router,
    bookings.router,
    connectors.router,
    integrations.router,
    agents.router,
    agents.usage_router,
]

__all__ = ["ROUTERS"]
