"""Bookings over HTTP: the catalogue, availability, booking and the deposit, moving, the calendar,
exports and cancelling; bad input named by field; another tenant's ids are 404."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import httpx

from api.conftest import API, World, assert_problem, fields_of

DAY = "2035-03-05"  # a Monday, far enough ahead that nothing is in the past or inside a notice


async def catalogue(client: httpx.AsyncClient, world: World, *, deposit: int = 50000) -> tuple[str, str]:
    admin = world.a.user("admin")
    service = await client.post(
        f"{API}/booking-services",
        headers=admin,
        json={
            "name": "Braids",
            "duration_minutes": 120,
            "price_minor": 300000,
            "deposit_minor": deposit,
            "buffer_minutes": 30,
            "cancellation_notice_hours": 24,
            "rebook_after_days": 42,
        },
    )
    assert service.status_code == 201, service.text
    assert (service.json()["currency"], service.json()["deposit_minor"]) == ("KES", deposit)
    service_id = service.json()["id"]
    hours = [{"weekday": d, "starts": "09:00", "ends": "17:00"} for d in range(7)]
    breaks = [{"weekday": d, "starts": "13:00", "ends": "14:00"} for d in range(7)]
    staff = await client.post(
        f"{API}/staff",
        headers=admin,
        json={"name": "Achieng", "service_ids": [service_id], "hours": hours, "breaks": breaks},
    )
    assert staff.status_code == 201, staff.text
    assert staff.json()["breaks"][0] == {"weekday": 0, "starts": "13:00:00", "ends": "14:00:00"}
    return service_id, staff.json()["id"]


def booking_body(service_id: str, start: str, **more: Any) -> dict[str, Any]:
    return {
        "service_id": service_id,
        "start_at": start,
        "customer_name": "Wanjiru",
        "customer_phone": "0712 345 678",
        "source": "whatsapp",
        **more,
    }


async def test_book_pay_move_see_export_and_cancel(client: httpx.AsyncClient, world: World) -> None:
    service_id, staff_id = await catalogue(client, world)
    viewer, staff = world.a.user("viewer"), world.a.user("staff")
    free = await client.get(
        f"{API}/availability", headers=viewer, params={"service_id": service_id, "date": DAY, "step": 60}
    )
    assert free.status_code == 200, free.text
    assert free.json()["timezone"] == "Africa/Nairobi"
    # 09:00-11:00, 10:00-12:00, 11:00-13:00, then after the break 14:00-16:00, 15:00-17:00
    local = [s["local_start"][11:16] for s in free.json()["items"]]
    assert local == ["09:00", "10:00", "11:00", "14:00", "15:00"]
    assert free.json()["items"][0]["start_at"] == f"{DAY}T06:00:00Z"

    made = await client.post(
        f"{API}/bookings", headers=staff, json=booking_body(service_id, f"{DAY}T09:00:00+03:00")
    )
    assert made.status_code == 201, made.text
    booking = made.json()
    assert (booking["status"], booking["customer_phone"], booking["staff_id"]) == (
        "pending_payment",
        "+254712345678",
        staff_id,
    )
    assert booking["local_start"] == f"{DAY}T09:00:00+03:00"
    path = f"{API}/bookings/{booking['id']}"
    after = await client.get(
        f"{API}/availability", headers=viewer, params={"service_id": service_id, "date": DAY, "step": 60}
    )
    # held until 11:30 with its buffer
    assert [s["local_start"][11:16] for s in after.json()["items"]] == ["14:00", "15:00"]

    taken = await client.post(
        f"{API}/bookings", headers=staff, json=booking_body(service_id, f"{DAY}T10:00:00+03:00")
    )
    assert fields_of(assert_problem(taken, 409, "slot_unavailable")) == {"body.start_at"}

    payment = str(uuid.uuid4())
    paid = await client.patch(path, headers=staff, json={"status": "confirmed", "payment_id": payment})
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["payment_id"]) == ("confirmed", payment)
    moved = await client.patch(
        path, headers=staff, json={"start_at": f"{DAY}T14:00:00+03:00", "notes": "moved"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["local_start"], moved.json()["notes"]) == (f"{DAY}T14:00:00+03:00", "moved")

    listed = await client.get(
        f"{API}/bookings", headers=viewer, params={"date_from": DAY, "date_to": DAY, "status": "confirmed"}
    )
    assert [b["id"] for b in listed.json()["items"]] == [booking["id"]]
    elsewhere = await client.get(f"{API}/bookings", headers=viewer, params={"date_from": "2035-03-06"})
    assert elsewhere.json()["items"] == []

    week = await client.get(
        f"{API}/bookings/calendar", headers=viewer, params={"view": "week", "date": "2035-03-07"}
    )
    assert week.status_code == 200, week.text
    days = week.json()["days"]
    assert (week.json()["first"], week.json()["last"], len(days)) == (DAY, "2035-03-11", 7)
    assert [[b["id"] for b in s["bookings"]] for s in days[0]["staff"]] == [[booking["id"]]]
    assert all(s["bookings"] == [] for d in days[1:] for s in d["staff"])

    exported = await client.get(f"{API}/bookings/export.csv", headers=viewer)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    assert [(r["id"], r["service"], r["staff"], r["local_start"]) for r in rows] == [
        (booking["id"], "Braids", "Achieng", f"{DAY}T14:00:00+03:00")
    ]
    ics = await client.get(f"{API}/bookings/export.ics", headers=viewer)
    assert ics.headers["content-type"].startswith("text/calendar")
    lines = ics.text.replace("\r\n ", "").split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR"
    assert f"UID:{booking['id']}@smeflow.test" in lines
    assert "DTSTART:20350305T110000Z" in lines
    assert "DTEND:20350305T130000Z" in lines

    cancelled = await client.post(f"{path}/cancel", headers=staff, json={"reason": "travelling"})
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["deposit"], body["amount_minor"], body["currency"], body["inside_notice"]) == (
        "refundable",
        50000,
        "KES",
        False,
    )
    again = await client.post(f"{path}/cancel", headers=staff)
    assert_problem(again, 409, "booking_transition_refused")
    audit = await client.get(
        f"{API}/audit/events", headers=world.a.user("admin"), params={"target_id": booking["id"]}
    )
    actions = [e["action"] for e in audit.json()["items"]]
    assert sorted(actions) == sorted(
        ["booking.created", "booking.confirmed", "booking.rescheduled", "booking.noted", "booking.cancelled"]
    )


async def test_racing_customers_get_one_booking(client: httpx.AsyncClient, world: World) -> None:
    service_id, _ = await catalogue(client, world, deposit=0)
    staff = world.a.user("staff")
    body = booking_body(service_id, f"{DAY}T15:00:00+03:00")
    answers = await asyncio.gather(
        *(client.post(f"{API}/bookings", headers=staff, json=body) for _ in range(10))
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 9
    for answer in answers:
        if answer.status_code == 409:
            assert assert_problem(answer, 409)["code"] in ("slot_taken", "slot_unavailable")
    (won,) = [a.json() for a in answers if a.status_code == 201]
    assert won["status"] == "confirmed"
    listed = await client.get(f"{API}/bookings", headers=staff)
    assert [b["id"] for b in listed.json()["items"]] == [won["id"]]


async def test_bad_input_is_named_and_writes_nothing(client: httpx.AsyncClient, world: World) -> None:
    service_id, staff_id = await catalogue(client, world)
    staff = world.a.user("staff")
    for body, field in [
        (booking_body(service_id, f"{DAY}T09:00:00+03:00", customer_phone="12345"), "body.customer_phone"),
        (booking_body(service_id, f"{DAY}T09:00:00"), "body.start_at"),  # no offset
        (booking_body(service_id, "2020-03-05T09:00:00+03:00"), "body.start_at"),
        (booking_body(str(uuid.uuid4()), f"{DAY}T09:00:00+03:00"), "body.service_id"),
        (booking_body(service_id, f"{DAY}T09:00:00+03:00", staff_id=str(uuid.uuid4())), "body.staff_id"),
    ]:
        refused = await client.post(f"{API}/bookings", headers=staff, json=body)
        assert fields_of(assert_problem(refused, 422)) == {field}, refused.text
    for params, field in [({"date": "2035-02-30"}, "query.date"), ({"days": 99}, "query.days")]:
        answer = await client.get(
            f"{API}/availability", headers=staff, params={"service_id": service_id, **params}
        )
        assert fields_of(assert_problem(answer, 422)) == {field}
    backwards = await client.get(
        f"{API}/bookings", headers=staff, params={"date_from": DAY, "date_to": "2035-03-01"}
    )
    assert fields_of(assert_problem(backwards, 422)) == {"query.date_to"}
    deposit = await client.patch(
        f"{API}/booking-services/{service_id}", headers=world.a.user("admin"), json={"deposit_minor": 10**9}
    )
    assert fields_of(assert_problem(deposit, 422)) == {"body.deposit_minor"}
    hours = await client.patch(
        f"{API}/staff/{staff_id}",
        headers=world.a.user("admin"),
        json={"hours": [{"weekday": 0, "starts": "09:00", "ends": "09:00"}]},
    )
    assert fields_of(assert_problem(hours, 422)) == {"body.hours.0.ends"}
    assert (await client.get(f"{API}/bookings", headers=staff)).json()["items"] == []

    made = await client.post(
        f"{API}/bookings", headers=staff, json=booking_body(service_id, f"{DAY}T09:00:00+03:00")
    )
    path = f"{API}/bookings/{made.json()['id']}"
    completed = await client.patch(path, headers=staff, json={"status": "completed"})
    assert fields_of(assert_problem(completed, 409, "booking_transition_refused")) == {"body.status"}
    # a move and a refused transition in one request: neither happens
    both = await client.patch(
        path, headers=staff, json={"start_at": f"{DAY}T15:00:00+03:00", "status": "no_show"}
    )
    assert_problem(both, 409, "booking_transition_refused")
    shown = (await client.get(path, headers=staff)).json()
    assert (shown["status"], shown["local_start"]) == ("pending_payment", f"{DAY}T09:00:00+03:00")


async def test_another_tenants_service_is_unknown(client: httpx.AsyncClient, world: World) -> None:
    service_id, _ = await catalogue(client, world)
    b = world.b.user("staff")
    nowhere = str(uuid.uuid4())
    for sid in (service_id, nowhere):
        answer = await client.get(f"{API}/availability", headers=b, params={"service_id": sid})
        assert_problem(answer, 404, "not_found")
        booked = await client.post(
            f"{API}/bookings", headers=b, json=booking_body(sid, f"{DAY}T09:00:00+03:00")
        )
        assert fields_of(assert_problem(booked, 422)) == {"body.service_id"}
    staff = await client.post(
        f"{API}/staff", headers=world.b.user("admin"), json={"name": "X", "service_ids": [service_id]}
    )
    assert fields_of(assert_problem(staff, 422)) == {"body.service_ids"}
    assert (await client.get(f"{API}/availability", headers=b)).json()["items"] == []
