"""Tenant operations. Creating and listing tenants is the platform operator's (platform scope);
reading and updating one's own tenant happens in that tenant's scope."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.db import DbScope, bind_scope, publish_auth_change
from smeflow.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from smeflow.settings import Settings
from smeflow.tenancy.models import Tenant
from smeflow.tenancy.schemas import TenantAdminUpdate, TenantCreate, TenantUpdate


def _check_tier(settings: Settings, tier: str) -> None:
    if tier not in settings.tiers:
        raise ValidationFailed(
            fields=[FieldProblem("body.tier", f"unknown tier {tier!r}; one of: {', '.join(settings.tiers)}")]
        )


async def create_tenant(
    session: AsyncSession, settings: Settings, actor: Actor, data: TenantCreate
) -> Tenant:
    """Create a tenant and open its audit chain. The session must be in platform scope; on
    return it is bound to the new tenant (so the caller can add its first members)."""
    _check_tier(settings, data.tier)
    tenant = Tenant(
        slug=data.slug,
        name=data.name,
        region=data.region,
        country=data.country,
        currency=data.currency,
        default_locale=data.default_locale,
        timezone=data.timezone,
        tier=data.tier,
        residency=data.residency.model_dump(),
        status="active",
    )
    session.add(tenant)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"a tenant with slug {data.slug!r} already exists",
            fields=[FieldProblem("body.slug", "already taken", "duplicate")],
        ) from exc
    await bind_scope(session, DbScope.tenant(tenant.id))
    await record(session, tenant.id, actor, "tenant.created", "tenant", str(tenant.id), _snapshot(tenant))
    return tenant


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    """The tenant ``tenant_id`` if the session may see it, else NotFound."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant:
    tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()
    if tenant is None:
        raise NotFound(f"tenant {slug!r} not found")
    return tenant


async def list_tenants(
    session: AsyncSession, *, limit: int, after_slug: str | None = None, status: str | None = None
) -> list[Tenant]:
    """Tenants ordered by slug (platform scope sees all, a tenant scope only its own)."""
    query = select(Tenant).order_by(Tenant.slug).limit(limit)
    if after_slug is not None:
        query = query.where(Tenant.slug > after_slug)
    if status is not None:
        query = query.where(Tenant.status == status)
    return list((await session.execute(query)).scalars())


async def update_tenant(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    tenant_id: uuid.UUID,
    patch: TenantUpdate | TenantAdminUpdate,
) -> Tenant:
    """Apply ``patch`` and audit the change (before/after of the fields that changed).

    The session must be bound to this tenant (its audit chain is written)."""
    tenant = await get_tenant(session, tenant_id)
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if "tier" in changes:
        _check_tier(settings, changes["tier"])
    diff: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "residency":
            value = patch.residency.model_dump() if patch.residency else value
        old = getattr(tenant, field)
        if old != value:
            diff[field] = {"from": old, "to": value}
            setattr(tenant, field, value)
    if diff:
        await session.flush()
        await publish_auth_change(session)  # cached callers carry the tenant's profile and status
        await record(session, tenant.id, actor, "tenant.updated", "tenant", str(tenant.id), diff)
    return tenant


def _snapshot(tenant: Tenant) -> dict[str, Any]:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "country": tenant.country,
        "currency": tenant.currency,
        "region": tenant.region,
        "tier": tenant.tier,
        "timezone": tenant.timezone,
        "default_locale": tenant.default_locale,
    }


__all__ = ["create_tenant", "get_tenant", "get_tenant_by_slug", "list_tenants", "update_tenant"]
