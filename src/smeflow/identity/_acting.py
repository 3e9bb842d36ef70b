"""Who changes a tenant's members or keys: a :class:`Principal` (a person or an API key, whose
role is checked) or a bare audit :class:`~smeflow.audit.Actor` (SMEFlow itself: the CLI, an
operator's tenant bootstrap, which the caller has already authorized)."""

from __future__ import annotations

import uuid

from smeflow.audit import Actor
from smeflow.errors import NotFound, PermissionDenied
from smeflow.identity._roles import role_rank
from smeflow.identity.principal import Principal

Acting = Principal | Actor


def check_tenant(actor: Acting, tenant_id: uuid.UUID, what: str = "tenant") -> None:
    """:class:`NotFound` (never 403: that would confirm it exists) for a principal of another
    tenant."""
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound(f"No such {what}")


def audit_actor(actor: Acting) -> Actor:
    """How the audit log names ``actor``."""
    return actor.actor if isinstance(actor, Principal) else actor


def acting_user(actor: Acting) -> uuid.UUID | None:
    """The user behind ``actor``, if a person."""
    return actor.user_id if isinstance(actor, Principal) else None


def check_may_assign(actor: Acting, new_role: str, current_role: str | None = None) -> None:
    """:class:`PermissionDenied` unless ``actor`` may move something from ``current_role`` to
    ``new_role``: never above its own role, and only an owner touches the owner role."""
    if not isinstance(actor, Principal):
        return
    if "owner" in (new_role, current_role) and actor.role != "owner":
        raise PermissionDenied("Only an owner may grant, change or remove the owner role")
    if max(role_rank(new_role), role_rank(current_role)) > role_rank(actor.role):
        raise PermissionDenied("You may not manage a role above your own")


__all__ = ["Acting", "acting_user", "audit_actor", "check_may_assign", "check_tenant"]
