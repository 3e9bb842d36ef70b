"""Reminders as rows for the workers: planned on confirmation (skipping the past), recomputed on
a move, dropped on cancellation, a rebooking invitation after completion, and claimed once by
concurrent workers across tenants."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg

from smeflow.bookings import cancel, complete, confirm, due_reminders, reminders_of, reschedule
from smeflow.db import Database, DbScope

from .conftest import ACTOR, NOW, add_shop, every_day
from .test_bookings import book

NAIROBI = ZoneInfo("Africa/Nairobi")
LAGOS = ZoneInfo("Africa/Lagos")
HOUR = timedelta(hours=1)


async def planned(db: Database, tenant_id: uuid.UUID, booking_id: uuid.UUID) -> list[tuple[str, datetime]]:
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        return [(r.kind, r.due_at) for r in await reminders_of(session, tenant_id, booking_id)]


async def test_reminders_are_planned_recomputed_and_dropped(db: Database, nairobi: uuid.UUID) -> None:
    shop = await add_shop(
        db, nairobi, hours=every_day(time(9), time(17)), deposit=100000, rebook_after_days=42
    )
    start = datetime(2031, 3, 10, 10, tzinfo=NAIROBI)
    held = await book(db, shop, start)
    assert await planned(db, nairobi, held.id) == []  # nothing before the deposit is paid
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        await confirm(session, ACTOR, nairobi, held.id, payment_id=uuid.uuid4(), now=NOW)
    assert await planned(db, nairobi, held.id) == [
        ("reminder_24h", start - 24 * HOUR),
        ("reminder_2h", start - 2 * HOUR),
    ]

    new_start = datetime(2031, 3, 12, 15, tzinfo=NAIROBI)
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        await reschedule(session, ACTOR, nairobi, held.id, start_at=new_start, now=NOW)
    assert await planned(db, nairobi, held.id) == [
        ("reminder_24h", new_start - 24 * HOUR),
        ("reminder_2h", new_start - 2 * HOUR),
    ]
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        await cancel(session, ACTOR, nairobi, held.id, now=NOW)
    assert await planned(db, nairobi, held.id) == []


async def test_a_late_booking_skips_past_reminders_and_completion_invites_to_rebook(
    db: Database, nairobi: uuid.UUID
) -> None:
    shop = await add_shop(db, nairobi, hours=every_day(time(9), time(17)), rebook_after_days=42)
    start = datetime(2031, 3, 10, 10, tzinfo=NAIROBI)
    now = start - 3 * HOUR
    booked = await book(db, shop, start, now=now)
    assert booked.status == "confirmed"
    assert await planned(db, nairobi, booked.id) == [("reminder_2h", start - 2 * HOUR)]
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        await complete(session, ACTOR, nairobi, booked.id, now=start + 2 * HOUR)
    assert await planned(db, nairobi, booked.id) == [("rebook", booked.end_at + timedelta(days=42))]


async def test_two_workers_claim_each_due_reminder_once(
    db: Database, nairobi: uuid.UUID, lagos: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    kenya = await add_shop(db, nairobi, hours=every_day(time(8), time(20)))
    nigeria = await add_shop(db, lagos, hours=every_day(time(8), time(20)))
    for hour in range(8, 20):
        await book(db, kenya, datetime(2031, 3, 10, hour, tzinfo=NAIROBI))
        await book(db, nigeria, datetime(2031, 3, 10, hour, tzinfo=LAGOS), phone="08031234567")
    assert owner_conn.execute("SELECT count(*) FROM booking_reminders").fetchone() == (48,)

    # the day before: only the 24-hour reminders of the early Kenyan bookings are due
    early = datetime(2031, 3, 9, 9, 30, tzinfo=NAIROBI)  # Lagos is two hours behind
    first = await due_reminders(db, early, limit=100)
    assert sorted(r.due_at for r in first) == [datetime(2031, 3, 9, h, tzinfo=NAIROBI) for h in (8, 9)]
    assert {(r.tenant_id, r.kind) for r in first} == {(nairobi, "reminder_24h")}

    later = datetime(2031, 3, 11, tzinfo=NAIROBI)
    claims = await asyncio.gather(*(due_reminders(db, later, limit=10) for _ in range(8)))
    claimed = [r.reminder_id for batch in claims for r in batch]
    assert len(claimed) == len(set(claimed)) == 48 - 2
    assert {r.tenant_id for batch in claims for r in batch} == {nairobi, lagos}
    assert await due_reminders(db, later) == []
    assert owner_conn.execute("SELECT count(*) FROM booking_reminders WHERE sent_at IS NULL").fetchone() == (
        0,
    )
