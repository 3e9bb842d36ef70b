"""Triggers on the real database: a run's input checked against the input schema; schedule fire
times (the tenant's time zone, daylight-saving changes); schedules registered by publishing,
fired exactly once (two workers, a retried job, missed fire times), removed by a publish without
them or by archiving, their lost fire jobs re-created by the sweeper, and one firing end to end
through a real worker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from smeflow.audit import AuditEvent
from smeflow.db import Database, DbScope
from smeflow.engine.definitions import (
    latest_fire,
    next_fire,
    parse_cron,
    validate_definition,
)
from smeflow.engine.definitions._cron import _day_matches
from smeflow.engine.runtime import RunQueue, check_input, fire_lock, fire_schedule, list_runs, start_run
from smeflow.engine.runtime._schedules import prune_trigger_keys
from smeflow.engine.trigger_models import WorkflowSchedule
from smeflow.engine.workflows import archive, publish, update_draft
from smeflow.errors import NotFound, ValidationFailed
from smeflow.tenancy.models import Tenant

from .test_runtime import SYSTEM, load, published, queue  # noqa: F401  (the queue fixture)

UTC_ZONE = ZoneInfo("UTC")


# -- fire times (pure) ------------------------------------------------------------------------


def test_the_same_cron_fires_at_different_instants_in_nairobi_and_lagos() -> None:
    daily = parse_cron("0 8 * * *")
    after = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 07:00 in Nairobi, 05:00 in Lagos
    assert next_fire(daily, ZoneInfo("Africa/Nairobi"), after) == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    assert next_fire(daily, ZoneInfo("Africa/Lagos"), after) == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    # just past 08:00 in Nairobi: tomorrow there, still today in Lagos
    later = datetime(2026, 3, 2, 5, 0, 1, tzinfo=UTC)
    assert next_fire(daily, ZoneInfo("Africa/Nairobi"), later) == datetime(2026, 3, 3, 5, 0, tzinfo=UTC)
    assert next_fire(daily, ZoneInfo("Africa/Lagos"), later) == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def test_weekdays_and_months() -> None:
    weekdays = parse_cron("30 9 * * MON-FRI")
    friday = datetime(2026, 3, 6, 7, 0, tzinfo=UTC)  # Friday 10:00 in Nairobi: past 09:30
    assert next_fire(weekdays, ZoneInfo("Africa/Nairobi"), friday) == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    leap = parse_cron("0 0 29 2 *")
    assert next_fire(leap, UTC_ZONE, datetime(2026, 3, 1, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)


def test_a_schedule_that_never_fires_is_refused() -> None:
    with pytest.raises(ValueError, match="never fires"):
        parse_cron("0 0 30 2 *")
    raw = {
        "schema_version": 1,
        "name": "Never",
        "triggers": [{"kind": "schedule", "cron": "0 0 31 4,6 *"}],
        "nodes": [{"id": "start", "kind": "trigger"}, {"id": "done", "kind": "end"}],
        "edges": [{"from": "start", "to": "done"}],
    }
    assert [(p.path, p.code) for p in validate_definition(raw)] == [("triggers[0].cron", "invalid_cron")]


def test_london_clocks_going_back_fire_a_repeated_time_once() -> None:
    # 2026-10-25: 02:00 BST becomes 01:00 GMT, so 01:30 happens twice (00:30 and 01:30 UTC)
    london = ZoneInfo("Europe/London")
    at_0130 = parse_cron("30 1 * * *")
    first = next_fire(at_0130, london, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 01:30 (BST)
    assert next_fire(at_0130, london, first) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # not 01:30 GMT
    hourly = parse_cron("0 * * * *")
    after = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)
    fires = [next_fire(hourly, london, after)]
    while len(fires) < 4:
        fires.append(next_fire(hourly, london, fires[-1]))
    # local 00:00 BST, 01:00 BST, then 01:00 GMT is the same wall time (skipped), 02:00 GMT
    assert [f.hour for f in fires] == [23, 0, 2, 3]


def test_cairo_clocks_going_forward_shift_a_missing_time() -> None:
    # 2026-04-24 (last Friday of April): in Cairo 00:00 EET becomes 01:00 EEST, so 00:30 never happens
    cairo = ZoneInfo("Africa/Cairo")
    at_0030 = parse_cron("30 0 * * *")
    fire = next_fire(at_0030, cairo, datetime(2026, 4, 23, 12, 0, tzinfo=UTC))
    assert fire == datetime(2026, 4, 23, 22, 30, tzinfo=UTC)  # 01:30 EEST: shifted by the gap
    assert fire.astimezone(cairo).hour == 1
    assert next_fire(at_0030, cairo, fire) == datetime(2026, 4, 24, 21, 30, tzinfo=UTC)  # 00:30 EEST


def test_latest_fire_is_the_most_recent_in_the_span() -> None:
    hourly = parse_cron("0 * * * *")
    since = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    until = datetime(2026, 1, 1, 10, 59, tzinfo=UTC)
    assert latest_fire(hourly, UTC_ZONE, since, until) == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert latest_fire(hourly, UTC_ZONE, since, since) == since
    assert latest_fire(hourly, UTC_ZONE, since + timedelta(minutes=1), since + timedelta(minutes=59)) is None


def _brute_force(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The next fire time by walking the wall clock minute by minute (first occurrence)."""
    schedule = parse_cron(cron)
    wall = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) - timedelta(hours=3)
    found: list[datetime] = []
    while not found or wall < found[0].astimezone(zone).replace(tzinfo=None) + timedelta(hours=3):
        if (
            wall.minute in schedule.minutes
            and wall.hour in schedule.hours
            and _day_matches(schedule, wall.date())
        ):
            instant = wall.replace(tzinfo=zone).astimezone(UTC)
            if instant > after:
                found.append(instant)
                found.sort()
        wall += timedelta(minutes=1)
    return found[0]


@given(
    cron=st.sampled_from(["30 1 * * *", "0,30 2,3 * * *", "*/20 0-3 * * *", "0 0 * * *", "59 23 * * *"]),
    zone=st.sampled_from(["Europe/London", "Africa/Cairo", "Africa/Casablanca", "Africa/Nairobi"]),
    base=st.sampled_from(
        [
            datetime(2026, 3, 29, tzinfo=UTC),
            datetime(2026, 10, 25, tzinfo=UTC),
            datetime(2026, 4, 24, tzinfo=UTC),
        ]
    ),
    minutes=st.integers(min_value=-24 * 60, max_value=24 * 60),
)
def test_next_fire_matches_the_wall_clock_walk(cron: str, zone: str, base: datetime, minutes: int) -> None:
    after = base + timedelta(minutes=minutes, seconds=17)
    assert next_fire(parse_cron(cron), ZoneInfo(zone), after) == _brute_force(cron, ZoneInfo(zone), after)


# -- the run's input against the input schema ---------------------------------------------------


def booking_flow(triggers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Booking",
        "input_schema": {
            "type": "object",
            "properties": {
                "phone": {"type": "string", "pattern": "^\\+[0-9]{8,15}$"},
                "amount": {"type": "integer", "minimum": 0},
                "email": {"type": "string", "format": "email"},
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
            },
            "required": ["phone", "amount"],
            "$defs": {"item": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}}},
        },
        "triggers": triggers or [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "done", "kind": "end", "config": {"output": {"amount": "input.amount"}}},
        ],
        "edges": [{"from": "start", "to": "done"}],
    }


def every_minute() -> dict[str, Any]:
    """A workflow started by an every-minute schedule (its input is {})."""
    definition = booking_flow([{"kind": "schedule", "cron": "* * * * *"}]) | {"name": "Ticker"}
    definition["input_schema"] = {"type": "object"}
    definition["nodes"][1]["config"] = {"output": {"ticked": "true"}}
    return definition


async def test_a_run_input_is_checked_against_the_schema_and_nothing_is_written(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, booking_flow())
    bad = {"amount": -5, "email": "not-an-email", "items": [{"qty": 0}, {"qty": "two"}], "extra": True}
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        with pytest.raises(ValidationFailed) as caught:
            await start_run(session, SYSTEM, tenant_a, workflow, bad)
    problems = {(f.field, f.code, f.message) for f in caught.value.fields}
    assert problems == {
        ("input.phone", "required", "is required"),
        ("input.amount", "minimum", "must be at least 0"),
        ("input.email", "format", "is not a valid email"),
        ("input.items[0].qty", "minimum", "must be at least 1"),
        ("input.items[1].qty", "type", "must be a whole number"),
    }
    assert "5 problems" in caught.value.message
    assert owner_conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    assert owner_conn.execute(
        "SELECT count(*) FROM audit_events WHERE action = 'run.started'"
    ).fetchone() == (0,)

    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        run = await start_run(session, SYSTEM, tenant_a, workflow, {"phone": "+254700000001", "amount": 1500})
        assert run.status == "queued"
        # the validator is cached per version: a version that is gone is never looked up again
        await check_input(session, tenant_a, workflow, 1, {"phone": "+254700000001", "amount": 1})
        with pytest.raises(NotFound):
            await check_input(session, tenant_a, workflow, 2, {})


async def test_a_schema_ref_outside_the_schema_is_refused_at_publish() -> None:
    definition = booking_flow()
    definition["input_schema"]["properties"]["items"]["items"] = {"$ref": "https://example.com/item.json"}
    problems = [(p.path, p.code) for p in validate_definition(definition)]
    assert problems == [("input_schema.properties.items.items.$ref", "invalid_schema")]


# -- schedules -----------------------------------------------------------------------------------


async def make_tenant_in(db: Database, slug: str, timezone: str) -> uuid.UUID:
    async with db.transaction(DbScope.platform()) as session:
        tenant = Tenant(
            slug=slug,
            name=slug.title(),
            region="africa",
            country="NG" if "Lagos" in timezone else "KE",
            currency="NGN" if "Lagos" in timezone else "KES",
            default_locale="en",
            timezone=timezone,
            tier="free",
            residency={},
            status="active",
        )
        session.add(tenant)
        await session.flush()
        return tenant.id


def daily_at_eight(timezone: str | None = None) -> dict[str, Any]:
    trigger: dict[str, Any] = {"kind": "schedule", "cron": "0 8 * * *"}
    if timezone is not None:
        trigger["timezone"] = timezone
    return every_minute() | {"name": "Morning report", "triggers": [trigger]}


async def schedules_of(db: Database, tenant: uuid.UUID) -> list[WorkflowSchedule]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return list((await session.execute(select(WorkflowSchedule))).scalars())


def next_utc(now: datetime, hour: int) -> datetime:
    """The next HH:00 UTC after ``now`` (the expected instants, worked out without the cron code)."""
    candidate = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)


async def test_a_schedule_without_a_zone_fires_in_the_tenants_zone(db: Database) -> None:
    nairobi = await make_tenant_in(db, "nairobi-salon", "Africa/Nairobi")
    lagos = await make_tenant_in(db, "lagos-clinic", "Africa/Lagos")
    before = datetime.now(UTC)
    await published(db, nairobi, daily_at_eight())
    await published(db, lagos, daily_at_eight())
    await published(db, lagos, daily_at_eight("Africa/Nairobi") | {"name": "In Nairobi time"})
    (in_nairobi,) = await schedules_of(db, nairobi)
    in_lagos, lagos_in_nairobi_time = sorted(await schedules_of(db, lagos), key=lambda s: s.timezone or "")
    # 08:00 in Nairobi (UTC+3) is 05:00 UTC; in Lagos (UTC+1) 07:00 UTC
    assert (in_nairobi.timezone, in_nairobi.next_fire_at) == (None, next_utc(before, 5))
    assert (in_lagos.timezone, in_lagos.next_fire_at) == (None, next_utc(before, 7))
    assert lagos_in_nairobi_time.next_fire_at == next_utc(before, 5)
    assert in_nairobi.cron == "0 8 * * *"


async def runs_of(db: Database, tenant: uuid.UUID) -> list[Any]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return await list_runs(session, tenant)


async def test_a_fire_time_starts_one_run_even_with_two_workers(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    workflow = await published(db, tenant_a, every_minute())
    (schedule,) = await schedules_of(db, tenant_a)
    due = schedule.next_fire_at
    first, second = await asyncio.gather(
        fire_schedule(db, tenant_a, workflow, due, now=due + timedelta(seconds=1)),
        fire_schedule(db, tenant_a, workflow, due, now=due + timedelta(seconds=1)),
    )
    assert sorted([len(first.runs), len(second.runs)]) == [0, 1]
    (run,) = await runs_of(db, tenant_a)
    assert (run.created_by, run.input, run.status) == ("schedule:* * * * *", {}, "queued")
    (moved,) = await schedules_of(db, tenant_a)
    assert moved.next_fire_at == due + timedelta(minutes=1)
    # a retried or re-created job for the same time: nothing more
    again = await fire_schedule(db, tenant_a, workflow, due, now=due + timedelta(seconds=5))
    assert again.runs == []
    assert len(await runs_of(db, tenant_a)) == 1
    assert await queue.runtime.execute_run(tenant_a, run.id) == "succeeded"


async def test_a_fire_time_key_is_never_used_twice(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    workflow = await published(db, tenant_a, every_minute())
    (schedule,) = await schedules_of(db, tenant_a)
    due = schedule.next_fire_at
    assert len((await fire_schedule(db, tenant_a, workflow, due, now=due)).runs) == 1
    # the schedule put back behind the application's back, as if the move had been lost
    owner_conn.execute("UPDATE workflow_schedules SET next_fire_at = %s", (due,))
    assert (await fire_schedule(db, tenant_a, workflow, due, now=due)).runs == []
    assert len(await runs_of(db, tenant_a)) == 1
    keys = owner_conn.execute("SELECT key FROM trigger_keys").fetchall()
    assert keys == [(f"schedule:{due.isoformat()}",)]


async def test_missed_fire_times_fire_once_for_the_latest(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    hourly = every_minute() | {"triggers": [{"kind": "schedule", "cron": "0 * * * *", "timezone": "UTC"}]}
    workflow = await published(db, tenant_a, hourly)
    missed = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    owner_conn.execute("UPDATE workflow_schedules SET next_fire_at = %s", (missed,))
    back_at = datetime(2026, 6, 1, 11, 20, tzinfo=UTC)  # 09:00, 10:00 and 11:00 passed too
    fired = await fire_schedule(db, tenant_a, workflow, missed, now=back_at)
    assert len(fired.runs) == 1
    assert fired.next_fire_at == [datetime(2026, 6, 1, 12, 0, tzinfo=UTC)]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        started = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "run.started"))
        ).scalar_one()
    assert started.data["fire_at"] == "2026-06-01T11:00:00+00:00"
    assert started.actor_type == "system"
    assert started.actor_id == "schedule"


async def test_publishing_without_a_schedule_or_archiving_removes_it(
    db: Database, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a, every_minute())
    (old,) = await schedules_of(db, tenant_a)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await update_draft(session, SYSTEM, tenant_a, workflow, definition=booking_flow())
        await publish(session, SYSTEM, tenant_a, workflow)
    assert await schedules_of(db, tenant_a) == []
    # the job deferred for the old schedule finds it gone and starts nothing
    fired = await fire_schedule(db, tenant_a, workflow, old.next_fire_at, now=old.next_fire_at)
    assert (fired.runs, fired.next_fire_at) == ([], [])

    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await update_draft(session, SYSTEM, tenant_a, workflow, definition=every_minute())
        await publish(session, SYSTEM, tenant_a, workflow)
    (again,) = await schedules_of(db, tenant_a)
    assert again.version == 3
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await archive(session, SYSTEM, tenant_a, workflow)
    assert await schedules_of(db, tenant_a) == []
    fired = await fire_schedule(db, tenant_a, workflow, again.next_fire_at, now=again.next_fire_at)
    assert fired.runs == []
    assert await runs_of(db, tenant_a) == []


async def test_an_input_schema_refusing_an_empty_input_skips_the_fire_time_audited(
    db: Database, tenant_a: uuid.UUID
) -> None:
    strict = booking_flow([{"kind": "schedule", "cron": "*/5 * * * *"}])
    workflow = await published(db, tenant_a, strict)
    (schedule,) = await schedules_of(db, tenant_a)
    due = schedule.next_fire_at
    fired = await fire_schedule(db, tenant_a, workflow, due, now=due)
    assert fired.runs == []
    assert fired.next_fire_at == [due + timedelta(minutes=5)]
    assert await runs_of(db, tenant_a) == []
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        skipped = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "schedule.skipped"))
        ).scalar_one()
    assert skipped.data["fire_at"] == due.isoformat()
    assert {p["field"] for p in skipped.data["problems"]} == {"input.phone", "input.amount"}


async def fire_jobs(run_queue: RunQueue) -> list[dict[str, Any]]:
    return await run_queue.app.connector.execute_query_all_async(
        "SELECT queueing_lock, scheduled_at FROM procrastinate_jobs"
        " WHERE task_name = 'smeflow.fire_schedule' AND status = 'todo' ORDER BY id"
    )


async def test_the_sweeper_recreates_a_missing_fire_job(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    daily = every_minute() | {"triggers": [{"kind": "schedule", "cron": "0 3 * * *", "timezone": "UTC"}]}
    workflow = await published(db, tenant_a, daily)  # published with no queue: no fire job yet
    assert await fire_jobs(queue) == []
    assert await queue.sweep() == 0  # not due within the minute: nothing to do yet
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    owner_conn.execute("UPDATE workflow_schedules SET next_fire_at = %s", (soon,))
    assert await queue.sweep() == 1
    assert await fire_jobs(queue) == [{"queueing_lock": fire_lock(workflow, soon), "scheduled_at": soon}]
    assert await queue.sweep() == 0  # it has its job now


async def test_publishing_with_a_queue_defers_the_first_fire_job(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
) -> None:
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        from smeflow.engine.workflows import create_workflow

        created, _ = await create_workflow(session, SYSTEM, tenant_a, "Ticker", every_minute())
        await publish(session, SYSTEM, tenant_a, created.id, scheduler=queue)
    await queue.wait_deferred()
    (schedule,) = await schedules_of(db, tenant_a)
    jobs = await fire_jobs(queue)
    assert jobs == [
        {"queueing_lock": fire_lock(created.id, schedule.next_fire_at), "scheduled_at": schedule.next_fire_at}
    ]


async def test_a_schedule_due_in_two_seconds_starts_a_run_through_a_worker(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    workflow = await published(db, tenant_a, every_minute())
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    owner_conn.execute("UPDATE workflow_schedules SET next_fire_at = %s", (due,))  # a fire time 2 s away
    assert await queue.sweep() == 1  # what the worker's own sweeper does every 5 s
    worker = asyncio.create_task(queue.run_worker(wait=True, concurrency=2))
    try:
        for _ in range(600):  # a minute at most
            runs = await runs_of(db, tenant_a)
            if runs and runs[0].status == "succeeded":
                break
            await asyncio.sleep(0.1)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    (run,) = runs
    assert (run.status, run.created_by, run.output) == ("succeeded", "schedule:* * * * *", {"ticked": True})
    assert run.created_at >= due
    assert run.workflow_id == workflow
    _, events = await load(db, tenant_a, run.id)
    assert events == [("start", "succeeded"), ("done", "succeeded")]
    (schedule,) = await schedules_of(db, tenant_a)
    assert schedule.next_fire_at > due
    assert schedule.next_fire_at.second == 0
    jobs = await fire_jobs(queue)  # the next fire time has its job
    assert [job["scheduled_at"] for job in jobs] == [schedule.next_fire_at]


async def test_trigger_keys_older_than_a_day_are_pruned(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    for tenant in (tenant_a, tenant_b):
        workflow = await published(db, tenant, every_minute())
        (schedule,) = await schedules_of(db, tenant)
        for minutes in range(3):
            at = schedule.next_fire_at + timedelta(minutes=minutes)
            owner_conn.execute("UPDATE workflow_schedules SET next_fire_at = %s", (at,))
            assert len((await fire_schedule(db, tenant, workflow, at, now=at)).runs) == 1
    owner_conn.execute(
        "UPDATE trigger_keys SET created_at = created_at - interval '25 hours'"
        " WHERE key IN (SELECT min(key) FROM trigger_keys GROUP BY tenant_id)"
    )
    assert await prune_trigger_keys(db) == 2  # one old key in each tenant
    assert await prune_trigger_keys(db) == 0
    left = owner_conn.execute("SELECT tenant_id, count(*) FROM trigger_keys GROUP BY tenant_id").fetchall()
    assert sorted(left) == sorted([(tenant_a, 2), (tenant_b, 2)])
    assert owner_conn.execute("SELECT count(*) FROM runs").fetchone() == (6,)  # runs are kept
