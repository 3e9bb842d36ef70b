"""Tenants: the businesses on SMEFlow, each with its country, currency, locale, time zone, tier
and data-residency policy. Every tenant-owned table elsewhere carries ``tenant_id`` under
row-level security."""

from smeflow.tenancy.models import Tenant
from smeflow.tenancy.schemas import ResidencyPolicy, TenantAdminUpdate, TenantCreate, TenantOut, TenantUpdate
from smeflow.tenancy.service import create_tenant, get_tenant, get_tenant_by_slug, list_tenants, update_tenant

__all__ = [
    "ResidencyPolicy",
    "Tenant",
    "TenantAdminUpdate",
    "TenantCreate",
    "TenantOut",
    "TenantUpdate",
    "create_tenant",
    "get_tenant",
    "get_tenant_by_slug",
    "list_tenants",
    "update_tenant",
]
