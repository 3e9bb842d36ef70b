"""Booking fixtures: tenants in Lagos and Nairobi, and a small catalogue for each (a service with
or without a deposit and one or two staff members with weekly hours); the API tests use the API
tests' world (two tenants with a member of each role)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time

import pytest

from api.conftest import app, client, settings, world
from smeflow.audit import Actor
from smeflow.bookings import create_service, create_staff
from smeflow.bookings.schemas import HoursIn, ServiceIn, StaffIn
from smeflow.db import Database, DbScope
from smeflow.tenancy.models import Tenant

__all__ = ["app", "client", "settings", "world"]

ACTOR = Actor.system("tests")
#: "now" in these tests: long before the dates they book, so nothing is in the past
NOW = datetime(2031, 1, 1, 0, 0, tzinfo=UTC)


@dataclass
class Shop:
    tenant_id: uuid.UUID
    service_id: uuid.UUID
    staff_ids: list[uuid.UUID]


async def add_tenant(db: Database, slug: str, country: str, timezone: str, currency: str) -> uuid.UUID:
    async with db.transaction(DbScope.platform()) as session:
        tenant = Tenant(
            slug=slug,
            name=slug.title(),
            region=country.lower(),
            country=country,
            currency=currency,
            default_locale="en",
            timezone=timezone,
            tier="business",
            residency={},
        )
        session.add(tenant)
        await session.flush()
        return tenant.id


def every_day(starts: time, ends: time) -> list[HoursIn]:
    return [HoursIn(weekday=d, starts=starts, ends=ends) for d in range(7)]


async def add_shop(
    db: Database,
    tenant_id: uuid.UUID,
    *,
    hours: list[HoursIn],
    breaks: list[HoursIn] | None = None,
    staff: int = 1,
    duration: int = 60,
    buffer: int = 0,
    deposit: int = 0,
    notice_hours: int = 24,
    keep_deposit: bool = True,
    rebook_after_days: int | None = None,
    name: str = "Braids",
) -> Shop:
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        service = await create_service(
            session,
            ACTOR,
            tenant_id,
            ServiceIn(
                name=name,
                duration_minutes=duration,
                price_minor=500000,
                deposit_minor=deposit,
                buffer_minutes=buffer,
                cancellation_notice_hours=notice_hours,
                keep_deposit_on_late_cancel=keep_deposit,
                rebook_after_days=rebook_after_days,
            ),
        )
        staff_ids = []
        for i in range(staff):
            row = await create_staff(
                session,
                ACTOR,
                tenant_id,
                StaffIn(
                    name=f"{name} stylist {i + 1}", service_ids=[service.id], hours=hours, breaks=breaks or []
                ),
            )
            staff_ids.append(row.id)
        return Shop(tenant_id, service.id, staff_ids)


@pytest.fixture
async def lagos(db: Database) -> uuid.UUID:
    return await add_tenant(db, "lagos-clinic", "NG", "Africa/Lagos", "NGN")


@pytest.fixture
async def nairobi(db: Database) -> uuid.UUID:
    return await add_tenant(db, "amani-salon", "KE", "Africa/Nairobi", "KES")
