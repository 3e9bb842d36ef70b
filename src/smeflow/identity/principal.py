"""Who is making a request: a user (in a tenant, or a platform operator outside any tenant) or
an API key. Built by authentication (login tokens, API keys, OIDC) and read by authorization."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from smeflow.audit import Actor

PrincipalKind = Literal["user", "api_key"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``role`` is the caller's role in ``tenant_id`` (``None`` outside a tenant); ``scopes`` narrow
    an API key to some permissions (``"audit:read"``; ``"*"`` = all its role allows);
    ``platform_role`` is ``"operator"`` for platform operators; ``tier`` is the tenant's plan
    (for its rate limits), when authentication looked the tenant up.
    """

    kind: PrincipalKind
    tenant_id: uuid.UUID | None
    role: str | None
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    scopes: frozenset[str] | None = None
    platform_role: str | None = None
    tier: str | None = None

    @property
    def actor(self) -> Actor:
        """The principal as the audit log names it."""
        if self.kind == "api_key":
            if self.api_key_id is None:
                raise ValueError("an API key principal needs api_key_id")
            return Actor("api_key", str(self.api_key_id))
        if self.user_id is None:
            return Actor.system()  # made by SMEFlow itself (the CLI, a bootstrap), not by a person
        if self.tenant_id is None and self.platform_role == "operator":
            return Actor("operator", str(self.user_id))
        return Actor("user", str(self.user_id))


__all__ = ["Principal", "PrincipalKind"]
