"""Tenant roles and their order: owner > admin > staff > viewer."""

from __future__ import annotations

from smeflow.errors import FieldProblem, ValidationFailed
from smeflow.identity.models import ROLES

_RANK = {role: len(ROLES) - index for index, role in enumerate(ROLES)}


def role_rank(role: str | None) -> int:
    """Higher is more powerful; 0 for no role or an unknown one."""
    return _RANK.get(role or "", 0)


def highest_role(roles: list[str]) -> str | None:
    """The most powerful known role in ``roles`` (``None`` if none is known)."""
    known = [r for r in roles if r in _RANK]
    return max(known, key=role_rank) if known else None


def check_role(role: str, field: str = "role") -> str:
    """``role`` if it is a tenant role, else :class:`ValidationFailed` naming ``field``."""
    if role not in _RANK:
        message = f"Unknown role; expected one of {', '.join(ROLES)}"
        raise ValidationFailed(message, fields=[FieldProblem(field, message, "unknown_role")])
    return role


__all__ = ["ROLES", "check_role", "highest_role", "role_rank"]
