"""Tenant data in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from smeflow.core.locales import COUNTRY_DEFAULTS, is_country, is_currency, is_timezone, normalize_locale

Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", min_length=1, max_length=63)
]
TenantStatus = Literal["active", "suspended", "closed"]


class ResidencyPolicy(BaseModel):
    """Where a tenant's data may live and which language-model providers may see it."""

    model_config = ConfigDict(extra="forbid")

    storage_regions: list[str] = Field(
        default_factory=list, description="regions where data may be stored; empty = the tenant's region"
    )
    llm_providers: list[str] = Field(
        default_factory=lambda: ["offline"],
        description="LLM providers allowed to see this tenant's data (offline = on this server)",
    )
    llm_regions: list[str] = Field(default_factory=list, description="allowed provider regions; empty = any")
    pii_to_llm: bool = Field(default=False, description="send personal data to LLMs unredacted")
    retention_days: int = Field(default=2555, ge=1, description="how long personal data is kept")


class _TenantFields(BaseModel):
    """Checks shared by create and update; each error names its own field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("country", check_fields=False)
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not is_country(value):
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code such as KE, NG or ZA")
        return value

    @field_validator("currency", check_fields=False)
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not is_currency(value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code such as KES, NGN or ZAR")
        return value

    @field_validator("default_locale", check_fields=False)
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalized = normalize_locale(value)
        if normalized is None:
            raise ValueError(f"{value!r} is not a known locale such as sw_KE, yo_NG or en_ZA")
        return normalized

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and not is_timezone(value):
            raise ValueError(f"{value!r} is not an IANA time zone such as Africa/Nairobi")
        return value


class TenantCreate(_TenantFields):
    """A new tenant. Currency, time zone and locale default from the country."""

    slug: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    country: Annotated[str, StringConstraints(to_upper=True, min_length=2, max_length=2)]
    region: str | None = Field(default=None, max_length=32, description="data region; default: the country")
    currency: Annotated[str, StringConstraints(to_upper=True, min_length=3, max_length=3)] | None = None
    default_locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)
    tier: str = "free"
    residency: ResidencyPolicy = Field(default_factory=ResidencyPolicy)

    @model_validator(mode="after")
    def _fill_defaults(self) -> TenantCreate:
        defaults = COUNTRY_DEFAULTS.get(self.country)
        if self.currency is None:
            if defaults is None:
                raise ValueError(f"currency is required for country {self.country}")
            self.currency = defaults.currency
        if self.timezone is None:
            if defaults is None:
                raise ValueError(f"timezone is required for country {self.country}")
            self.timezone = defaults.timezone
        if self.default_locale is None:
            self.default_locale = defaults.locale if defaults else "en"
        if self.region is None:
            self.region = self.country.lower()
        return self


class TenantUpdate(_TenantFields):
    """Fields a tenant's admin (or the operator) may change; absent fields stay as they are."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    currency: Annotated[str, StringConstraints(to_upper=True, min_length=3, max_length=3)] | None = None
    default_locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)
    residency: ResidencyPolicy | None = None


class TenantAdminUpdate(TenantUpdate):
    """What only the platform operator may change."""

    tier: str | None = None
    status: TenantStatus | None = None


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    region: str
    country: str
    currency: str
    default_locale: str
    timezone: str
    tier: str
    residency: ResidencyPolicy
    status: TenantStatus
    created_at: datetime
    updated_at: datetime


__all__ = [
    "ResidencyPolicy",
    "Slug",
    "TenantAdminUpdate",
    "TenantCreate",
    "TenantOut",
    "TenantStatus",
    "TenantUpdate",
]
