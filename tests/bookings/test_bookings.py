"""Bookings on the real database: time zones across midnight and month ends, the race for the
last free slot, holds that expire, cancelling and moving by the notice rules, refused
transitions and the audit trail."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError

from smeflow.bookings import (
    HoldExpired,
    NoticeTooShort,
    SlotTaken,
    SlotUnavailable,
    TransitionRefused,
    available_slots,
    cancel,
    complete,
    confirm,
    create_booking,
    expire_holds,
    get_booking,
    mark_no_show,
    reschedule,
)
from smeflow.bookings.models import Booking
from smeflow.bookings.schemas import BookingIn, HoursIn
from smeflow.db import Database, DbScope
from smeflow.errors import SMEFlowError, ValidationFailed

from .conftest import ACTOR, NOW, Shop, add_shop, add_tenant, every_day

LAGOS = ZoneInfo("Africa/Lagos")
NAIROBI = ZoneInfo("Africa/Nairobi")
HOUR = timedelta(hours=1)


def at(zone: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=zone)


async def book(
    db: Database,
    shop: Shop,
    start: datetime,
    *,
    now: datetime = NOW,
    staff_id: uuid.UUID | None = None,
    phone: str = "+254712345678",
    name: str = "Wanjiru",
) -> Booking:
    async with db.transaction(DbScope.tenant(shop.tenant_id)) as session:
        data = BookingIn(
            service_id=shop.service_id,
            staff_id=staff_id,
            start_at=start,
            customer_name=name,
            customer_phone=phone,
        )
        return await create_booking(session, ACTOR, shop.tenant_id, data, now=now)


async def starts_on(db: Database, shop: Shop, day: date, zone: ZoneInfo, *, now: datetime = NOW) -> list[str]:
    async with db.transaction(DbScope.tenant(shop.tenant_id)) as session:
        found = await available_slots(session, shop.tenant_id, shop.service_id, first=day, step=HOUR, now=now)
    return [s.local_start.strftime("%d %H:%M") for s in found]


async def status_of(db: Database, shop: Shop, booking_id: uuid.UUID) -> str:
    async with db.transaction(DbScope.tenant(shop.tenant_id)) as session:
        return (await get_booking(session, shop.tenant_id, booking_id)).status


@pytest.mark.parametrize(
    ("country", "zone", "currency", "offset"),
    [("NG", "Africa/Lagos", "NGN", 1), ("KE", "Africa/Nairobi", "KES", 3)],
)
async def test_an_evening_shift_across_midnight_and_the_month_end(
    db: Database, country: str, zone: str, currency: str, offset: int
) -> None:
    tenant = await add_tenant(db, f"night-{country.lower()}", country, zone, currency)
    tz = ZoneInfo(zone)
    friday_night = [HoursIn(weekday=4, starts=time(20), ends=time(2))]  # Friday 31 January 2031
    shop = await add_shop(
        db, tenant, hours=friday_night, breaks=[HoursIn(weekday=4, starts=time(22), ends=time(23))]
    )
    assert await starts_on(db, shop, date(2031, 1, 31), tz) == ["31 20:00", "31 21:00", "31 23:00"]
    assert await starts_on(db, shop, date(2031, 2, 1), tz) == ["01 00:00", "01 01:00"]

    async with db.transaction(DbScope.tenant(tenant)) as session:
        (first, *_) = await available_slots(
            session, tenant, shop.service_id, first=date(2031, 2, 1), step=HOUR, now=NOW
        )
    # midnight on 1 February in the tenant's zone is still 31 January in UTC
    assert first.start_at == datetime(2031, 2, 1, tzinfo=UTC) - offset * HOUR
    assert first.start_at.tzinfo == UTC
    assert first.local_start.utcoffset() == offset * HOUR

    booked = await book(db, shop, at(tz, 2031, 2, 1, 1))
    assert booked.status == "confirmed"
    assert booked.currency == currency
    assert await starts_on(db, shop, date(2031, 2, 1), tz) == ["01 00:00"]
    assert await starts_on(db, shop, date(2031, 1, 31), tz) == ["31 20:00", "31 21:00", "31 23:00"]
    # two days at once: the shift seen from both of its local dates
    async with db.transaction(DbScope.tenant(tenant)) as session:
        both = await available_slots(
            session, tenant, shop.service_id, first=date(2031, 1, 31), days=2, step=HOUR, now=NOW
        )
    assert len(both) == 4
    # the break and the time after closing are not bookable
    for refused in (at(tz, 2031, 1, 31, 22, 30), at(tz, 2031, 2, 1, 1, 30)):
        with pytest.raises(SlotUnavailable):
            await book(db, shop, refused)


async def test_twenty_concurrent_attempts_at_the_last_free_slot_make_one_booking(
    db: Database, nairobi: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    shop = await add_shop(db, nairobi, hours=every_day(time(9), time(12, 30)), buffer=15)
    await book(db, shop, at(NAIROBI, 2031, 3, 3, 9))
    # 10:00 would meet the first booking's buffer (until 10:15)
    assert await starts_on(db, shop, date(2031, 3, 3), NAIROBI) == ["03 11:00"]
    await book(db, shop, at(NAIROBI, 2031, 3, 3, 10, 15))
    # 11:30 (after the second booking's buffer) is the last free time: it ends at closing
    last = at(NAIROBI, 2031, 3, 3, 11, 30)
    assert await starts_on(db, shop, date(2031, 3, 3), NAIROBI) == []
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        free = await available_slots(
            session, nairobi, shop.service_id, first=date(2031, 3, 3), step=timedelta(minutes=15), now=NOW
        )
    assert [s.start_at for s in free] == [last]

    async def attempt(i: int) -> Booking | SMEFlowError:
        try:
            return await book(db, shop, last, phone=f"07123456{i:02d}", name=f"Customer {i}")
        except SMEFlowError as exc:
            return exc

    results = await asyncio.gather(*(attempt(i) for i in range(20)))
    won = [r for r in results if isinstance(r, Booking)]
    lost = [r for r in results if not isinstance(r, Booking)]
    assert len(won) == 1
    assert all(isinstance(e, SlotTaken | SlotUnavailable) for e in lost), lost
    assert owner_conn.execute(
        "SELECT count(*) FROM bookings WHERE tenant_id = %s AND status = 'confirmed'", (nairobi,)
    ).fetchone() == (3,)
    # one audit record per booking made, none for the attempts that lost
    assert owner_conn.execute(
        "SELECT count(*) FROM audit_events WHERE tenant_id = %s AND action = 'booking.created'", (nairobi,)
    ).fetchone() == (3,)


async def test_the_database_refuses_an_overlap_even_behind_the_services_back(
    db: Database, nairobi: uuid.UUID
) -> None:
    """Twenty transactions insert overlapping rows at once, skipping the availability check."""
    shop = await add_shop(db, nairobi, hours=every_day(time(9), time(17)))
    start = at(NAIROBI, 2031, 3, 3, 9).astimezone(UTC)

    async def insert(i: int) -> str:
        try:
            async with db.transaction(DbScope.tenant(nairobi)) as session:
                session.add(
                    Booking(
                        tenant_id=nairobi,
                        service_id=shop.service_id,
                        staff_id=shop.staff_ids[0],
                        customer_name=f"c{i}",
                        customer_phone="+254712345678",
                        start_at=start + timedelta(minutes=i),
                        end_at=start + timedelta(minutes=i + 60),
                        blocked_until=start + timedelta(minutes=i + 60),
                        status="confirmed",
                        deposit_minor=0,
                        currency="KES",
                    )
                )
            return "inserted"
        except IntegrityError as exc:
            return "refused" if "ex_bookings_no_overlap" in str(exc.orig) else str(exc)

    outcomes = await asyncio.gather(*(insert(i) for i in range(20)))
    assert sorted(set(outcomes)) == ["inserted", "refused"]
    assert outcomes.count("inserted") == 1


async def test_any_staff_member_free_gets_the_booking(db: Database, nairobi: uuid.UUID) -> None:
    shop = await add_shop(db, nairobi, hours=every_day(time(9), time(10)), staff=2)
    one = await book(db, shop, at(NAIROBI, 2031, 3, 3, 9))
    two = await book(db, shop, at(NAIROBI, 2031, 3, 3, 9))
    assert {one.staff_id, two.staff_id} == set(shop.staff_ids)
    with pytest.raises(SlotUnavailable) as refused:
        await book(db, shop, at(NAIROBI, 2031, 3, 3, 9))
    assert [f.field for f in refused.value.fields] == ["start_at"]


async def test_bad_input_names_the_field_and_writes_nothing(
    db: Database, nairobi: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    shop = await add_shop(db, nairobi, hours=every_day(time(9), time(17)))
    with pytest.raises(ValidationFailed) as phone:
        await book(db, shop, at(NAIROBI, 2031, 3, 3, 9), phone="12345")
    assert [f.field for f in phone.value.fields] == ["customer_phone"]
    with pytest.raises(ValidationFailed) as past:
        await book(db, shop, at(NAIROBI, 2030, 3, 3, 9))
    assert [f.field for f in past.value.fields] == ["start_at"]
    with pytest.raises(ValidationFailed) as staff:
        await book(db, shop, at(NAIROBI, 2031, 3, 3, 9), staff_id=uuid.uuid4())
    assert [f.field for f in staff.value.fields] == ["staff_id"]
    assert owner_conn.execute("SELECT count(*) FROM bookings").fetchone() == (0,)
    booked = await book(db, shop, at(NAIROBI, 2031, 3, 3, 9), phone="0712 345 678")
    assert booked.customer_phone == "+254712345678"


async def test_an_expired_hold_frees_the_slot_for_another_customer(
    db: Database, nairobi: uuid.UUID, lagos: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    shop = await add_shop(db, nairobi, hours=every_day(time(9), time(10)), deposit=100000)
    other = await add_shop(db, lagos, hours=every_day(time(9), time(10)), deposit=100000)
    start = at(NAIROBI, 2031, 3, 3, 9)
    held = await book(db, shop, start)
    other_held = await book(db, other, at(LAGOS, 2031, 3, 3, 9), phone="08031234567")
    assert (held.status, held.expires_at, held.deposit_minor) == (
        "pending_payment",
        NOW + timedelta(minutes=15),
        100000,
    )
    with pytest.raises(SlotUnavailable):
        await book(db, shop, start, name="Second customer")

    assert await expire_holds(db, NOW + timedelta(minutes=14)) == []
    # paid too late: the hold lapsed even before the sweeper came by
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        with pytest.raises(HoldExpired):
            await confirm(
                session, ACTOR, nairobi, held.id, payment_id=uuid.uuid4(), now=NOW + timedelta(minutes=15)
            )

    later = NOW + timedelta(minutes=16)
    expired = await expire_holds(db, later)
    assert {(e.tenant_id, e.booking_id) for e in expired} == {(nairobi, held.id), (lagos, other_held.id)}
    assert await expire_holds(db, later) == []
    assert await status_of(db, shop, held.id) == "expired"

    second = await book(db, shop, start, now=later, name="Second customer")
    assert second.status == "pending_payment"
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        confirmed = await confirm(session, ACTOR, nairobi, second.id, payment_id=uuid.uuid4(), now=later)
        assert confirmed.status == "confirmed"
        with pytest.raises(TransitionRefused):
            await confirm(session, ACTOR, nairobi, held.id, now=later)
    actions = owner_conn.execute(
        "SELECT action FROM audit_events WHERE tenant_id = %s AND target_type = 'booking' ORDER BY seq",
        (nairobi,),
    ).fetchall()
    assert [a for (a,) in actions] == [
        "booking.created",
        "booking.expired",
        "booking.created",
        "booking.confirmed",
    ]


async def test_cancel_inside_and_outside_the_notice(db: Database, nairobi: uuid.UUID) -> None:
    keeps = await add_shop(db, nairobi, hours=every_day(time(9), time(17)), deposit=100000, notice_hours=24)
    refunds = await add_shop(
        db, nairobi, hours=every_day(time(9), time(17)), deposit=100000, keep_deposit=False, name="Nails"
    )
    start = at(NAIROBI, 2031, 3, 10, 10)

    async def paid(shop: Shop, hour: int) -> Booking:
        booking = await book(db, shop, start.replace(hour=hour))
        async with db.transaction(DbScope.tenant(nairobi)) as session:
            return await confirm(session, ACTOR, nairobi, booking.id, payment_id=uuid.uuid4(), now=NOW)

    early, late, late_refund = await paid(keeps, 10), await paid(keeps, 11), await paid(refunds, 12)
    unpaid = await book(db, keeps, start.replace(hour=13))
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        outside = await cancel(session, ACTOR, nairobi, early.id, now=early.start_at - 48 * HOUR)
        inside = await cancel(session, ACTOR, nairobi, late.id, reason="sick", now=late.start_at - 2 * HOUR)
        inside_refund = await cancel(session, ACTOR, nairobi, late_refund.id, now=late_refund.start_at - HOUR)
        never_paid = await cancel(session, ACTOR, nairobi, unpaid.id, now=NOW)
    assert (outside.deposit, outside.amount_minor, outside.inside_notice) == ("refundable", 100000, False)
    assert (inside.deposit, inside.amount_minor, inside.inside_notice) == ("kept", 100000, True)
    assert (inside_refund.deposit, inside_refund.amount_minor) == ("refundable", 100000)
    assert (never_paid.deposit, never_paid.amount_minor, never_paid.currency) == ("none", 0, "KES")
    # a cancelled booking frees its slot at once
    again = await book(db, keeps, start.replace(hour=10), name="Next customer")
    assert again.staff_id == early.staff_id


async def test_reschedule_inside_and_outside_the_notice(db: Database, nairobi: uuid.UUID) -> None:
    shop = await add_shop(db, nairobi, hours=every_day(time(9), time(12)), notice_hours=24)
    booking = await book(db, shop, at(NAIROBI, 2031, 3, 10, 9))
    taken = await book(db, shop, at(NAIROBI, 2031, 3, 11, 10))
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        with pytest.raises(NoticeTooShort) as short:
            await reschedule(
                session,
                ACTOR,
                nairobi,
                booking.id,
                start_at=at(NAIROBI, 2031, 3, 11, 9),
                now=booking.start_at - 3 * HOUR,
            )
    assert "24 h notice" in short.value.message
    assert [f.field for f in short.value.fields] == ["start_at"]
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        with pytest.raises(SlotUnavailable):
            await reschedule(
                session,
                ACTOR,
                nairobi,
                booking.id,
                start_at=taken.start_at + 30 * timedelta(minutes=1),
                now=NOW,
            )
        moved = await reschedule(
            session, ACTOR, nairobi, booking.id, start_at=at(NAIROBI, 2031, 3, 11, 9), now=NOW
        )
        assert (moved.start_at, moved.end_at) == (at(NAIROBI, 2031, 3, 11, 9), at(NAIROBI, 2031, 3, 11, 10))
    assert await status_of(db, shop, booking.id) == "confirmed"
    # the old time is free again, the new one is not
    assert "10 09:00" in await starts_on(db, shop, date(2031, 3, 10), NAIROBI)
    assert await starts_on(db, shop, date(2031, 3, 11), NAIROBI) == ["11 11:00"]
    # moving onto its own time (a few minutes later) does not collide with itself
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        nudged = await reschedule(
            session, ACTOR, nairobi, booking.id, start_at=at(NAIROBI, 2031, 3, 11, 9, 0) + 0 * HOUR, now=NOW
        )
        assert nudged.start_at == at(NAIROBI, 2031, 3, 11, 9)


async def test_transitions_outside_the_table_are_refused(db: Database, nairobi: uuid.UUID) -> None:
    shop = await add_shop(db, nairobi, hours=every_day(time(9), time(17)), deposit=50000)
    held = await book(db, shop, at(NAIROBI, 2031, 3, 10, 9))
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        with pytest.raises(TransitionRefused) as refused:
            await complete(session, ACTOR, nairobi, held.id, now=NOW)
        assert "pending_payment booking cannot become completed" in refused.value.message
        with pytest.raises(TransitionRefused):
            await mark_no_show(session, ACTOR, nairobi, held.id, now=NOW)
        await cancel(session, ACTOR, nairobi, held.id, now=NOW)
    for attempt in (
        lambda s: cancel(s, ACTOR, nairobi, held.id, now=NOW),
        lambda s: confirm(s, ACTOR, nairobi, held.id, now=NOW),
        lambda s: complete(s, ACTOR, nairobi, held.id, now=NOW),
    ):
        async with db.transaction(DbScope.tenant(nairobi)) as session:
            with pytest.raises(TransitionRefused):
                await attempt(session)
    async with db.transaction(DbScope.tenant(nairobi)) as session:
        with pytest.raises(SMEFlowError):
            await reschedule(session, ACTOR, nairobi, held.id, start_at=at(NAIROBI, 2031, 3, 12, 9), now=NOW)
    assert await status_of(db, shop, held.id) == "cancelled"
