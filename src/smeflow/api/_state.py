"""What the API process holds for its lifetime, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from smeflow.api._authcache import AuthCache
from smeflow.api._ratelimit import RateLimiter
from smeflow.connectors import ConnectorRegistry, HttpFactory
from smeflow.db import Database
from smeflow.engine.runtime import RunQueue
from smeflow.identity import Authorizer, OidcVerifier
from smeflow.payments import PaymentFlow
from smeflow.settings import Settings


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    authorizer: Authorizer
    limiter: RateLimiter
    auth_cache: AuthCache[Any]
    http: httpx.AsyncClient
    oidc: OidcVerifier | None
    runs: RunQueue
    payments: PaymentFlow | None = None
    #: the connectors of this process (built-ins and plugins), built once at start-up
    connectors: ConnectorRegistry = field(default_factory=ConnectorRegistry)
    #: connectors' HTTP clients, over the runtime's SSRF-guarded client
    connector_http: HttpFactory | None = None
    #: the webhook ingress, made on first use (``smeflow.api.routes.webhooks``)
    ingress: Any = None


__all__ = ["AppState"]
