"""Response shapes shared by several routes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class TenantBrief(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    country: str
    currency: str
    timezone: str
    default_locale: str


class UserBrief(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    mfa_enabled: bool


__all__ = ["TenantBrief", "UserBrief"]
