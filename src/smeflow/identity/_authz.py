"""Authorization: role-based access control with tenant domains, in pycasbin.

Key contracts:
- Rules live in the ``authz_rules`` table. ``p`` rows are ``(role, domain, obj, act)``;
  ``g`` rows are ``(role, inherited role, domain)``. Domain ``"*"`` means every tenant; any
  other domain is one tenant's id (extra rules for that tenant only).
- A principal's subjects are its role in its tenant's domain, plus the platform role
  ``operator`` (in every domain) if it has it. An API key is additionally limited to its
  scopes (``"*"`` = all its role allows).
- Casbin's role manager matches ``g`` domains exactly unless given a domain matching function:
  without one, the ``"*"`` inheritance rows would never apply to a real tenant. We register
  one that lets a stored ``"*"`` match any requested domain (and nothing else: no prefixes).
- :meth:`Authorizer.allowed` runs on every request: answers are memoized (the rules are fixed
  for the life of an :class:`Authorizer`; load a new one to pick up changed rules).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import casbin
from casbin.model import Model
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.errors import PermissionDenied
from smeflow.identity.models import AuthzRule
from smeflow.identity.principal import Principal

ANY_DOMAIN = "*"
NO_TENANT = ""  # the domain of a principal outside any tenant: only "*" rules apply

MODEL = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || p.dom == r.dom) && r.obj == p.obj && r.act == p.act
"""

Rule = tuple[str, str, str, str, str]


def _domain_matches(requested: str, stored: str) -> bool:
    return stored in (ANY_DOMAIN, requested)


class Authorizer:
    """Answers "may this principal do ``act`` on ``obj``?" from a snapshot of the rules."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        model = Model()
        model.load_model_from_text(MODEL)
        self._enforcer = casbin.Enforcer(model)
        self._enforcer.add_named_domain_matching_func("g", _domain_matches)
        policies: list[list[str]] = []
        groupings: list[list[str]] = []
        for ptype, v0, v1, v2, v3 in rules:
            if ptype == "p":
                policies.append([v0, v1, v2, v3])
            elif ptype == "g":
                groupings.append([v0, v1, v2])
        if policies:
            self._enforcer.add_policies(policies)
        if groupings:
            self._enforcer.add_grouping_policies(groupings)
        self._check = lru_cache(maxsize=65536)(self._enforce)

    @classmethod
    async def load(cls, session: AsyncSession) -> Authorizer:
        """An authorizer with the rules in the database now (any scope may read them)."""
        rows = await session.execute(
            select(AuthzRule.ptype, AuthzRule.v0, AuthzRule.v1, AuthzRule.v2, AuthzRule.v3).order_by(
                AuthzRule.id
            )
        )
        return cls([(r.ptype, r.v0, r.v1, r.v2, r.v3) for r in rows])

    def _enforce(self, subject: str, domain: str, obj: str, act: str) -> bool:
        return bool(self._enforcer.enforce(subject, domain, obj, act))

    def allowed(self, principal: Principal, obj: str, act: str) -> bool:
        """Whether ``principal`` may do ``act`` on ``obj`` (in its own tenant)."""
        if principal.kind == "api_key":
            scopes = principal.scopes or frozenset()
            if "*" not in scopes and f"{obj}:{act}" not in scopes:
                return False
        domain = str(principal.tenant_id) if principal.tenant_id is not None else NO_TENANT
        member = principal.role is not None and principal.tenant_id is not None
        if member and self._check(principal.role or "", domain, obj, act):
            return True
        if principal.platform_role == "operator" and principal.kind == "user":
            return self._check("operator", domain, obj, act)
        return False

    def require(self, principal: Principal, permission: str) -> None:
        """Raise :class:`PermissionDenied` unless ``principal`` has ``permission`` (``"obj:act"``)."""
        obj, sep, act = permission.partition(":")
        if not sep or not obj or not act:
            raise ValueError(f"a permission is 'object:action', not {permission!r}")
        if not self.allowed(principal, obj, act):
            raise PermissionDenied(f"You do not have the permission {permission}")


__all__ = ["ANY_DOMAIN", "Authorizer", "MODEL"]
