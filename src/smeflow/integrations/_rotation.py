"""``smeflow keys rotate``: re-seal every integration whose data key is wrapped by an older key.

Key contracts:

* Tenants are walked in the ``platform`` scope (by slug, in pages); each tenant's integrations
  are re-sealed in one transaction of its own, bound to that tenant, with their rows locked (a
  concurrent change of credentials waits, then seals under the current key itself).
* Each re-seal opens the secrets with whichever key wrapped them (the current one or a retired
  one from ``SMEFLOW_RETIRED_SECRET_KEYS``) and seals them again under a **fresh** data key
  wrapped by the current key; it is audited as ``integration.resealed`` (old and new key ids
  only) in that tenant's chain, in the same transaction.
* Idempotent: an integration already under the current key is not touched, so a second run
  re-seals nothing. One whose key is gone is counted as failed and left as it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from smeflow.audit import Actor, record
from smeflow.core.sealing import UnsealError
from smeflow.db import Database, DbScope, publish_auth_change
from smeflow.integrations._ingress import cache_key
from smeflow.integrations._loading import sealed_of
from smeflow.integrations._vault import Vault
from smeflow.integrations.models import Integration
from smeflow.integrations.service import _apply
from smeflow.tenancy import list_tenants

TENANT_PAGE = 500
ROTATION_ACTOR = Actor.system("keys-rotate")


@dataclass(slots=True)
class RotationReport:
    """What a rotation did: integrations re-sealed, and those it could not open."""

    resealed: int = 0
    tenants: int = 0
    failed: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)


async def _rotate_tenant(
    db: Database, vault: Vault, tenant_id: uuid.UUID, actor: Actor, report: RotationReport
) -> None:
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        query = (
            select(Integration)
            .where(Integration.tenant_id == tenant_id, Integration.key_id != vault.current_key_id)
            .order_by(Integration.id)
            .with_for_update()
        )
        for row in (await session.execute(query)).scalars().all():
            try:
                sealed = vault.reseal(tenant_id, row.id, sealed_of(row))
            except UnsealError:
                report.failed.append((tenant_id, row.id))
                continue
            old = row.key_id
            _apply(row, sealed)
            await session.flush()
            details = {"from_key_id": old, "to_key_id": sealed.key_id}
            await record(
                session, tenant_id, actor, "integration.resealed", "integration", str(row.id), details
            )
            await publish_auth_change(session, cache_key(row.id))
            report.resealed += 1


async def rotate_keys(db: Database, vault: Vault, *, actor: Actor = ROTATION_ACTOR) -> RotationReport:
    """Re-seal, under the current key, every integration of every tenant sealed under another."""
    report = RotationReport()
    after: str | None = None
    while True:
        async with db.transaction(DbScope.platform()) as session:
            tenants = [
                (t.id, t.slug) for t in await list_tenants(session, limit=TENANT_PAGE, after_slug=after)
            ]
        for tenant_id, _ in tenants:
            await _rotate_tenant(db, vault, tenant_id, actor, report)
            report.tenants += 1
        if len(tenants) < TENANT_PAGE:
            return report
        after = tenants[-1][1]


__all__ = ["ROTATION_ACTOR", "RotationReport", "rotate_keys"]
