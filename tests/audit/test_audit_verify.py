"""verify_chain against a real PostgreSQL: tampering behind the application's back (as the
owner) is reported at the first broken link, with a reason a human understands."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import psycopg
import pytest

from smeflow.audit import ChainReport, chain_hash, event_fields, verify_chain
from smeflow.db import Database, DbScope

WriteEvents = Callable[..., Awaitable[None]]


async def verify(db: Database, tenant_id: uuid.UUID, batch_size: int = 3) -> ChainReport:
    """Verify in a fresh transaction, in small batches so several pages are read."""
    async with db.transaction(DbScope.tenant(tenant_id)) as s:
        report = await verify_chain(s, tenant_id, batch_size=batch_size)
    assert report.tenant_id == tenant_id
    assert (report.broken_seq is None) is (report.reason is None) is report.ok
    return report


def tamper(owner_conn: psycopg.Connection, tenant_id: uuid.UUID, statement: str, seq: int) -> None:
    """Run ``statement`` (with ``%(tenant)s`` and ``%(seq)s``) as the owner and check it hit one row."""
    cursor = owner_conn.execute(statement, {"tenant": tenant_id, "seq": seq})
    assert cursor.rowcount == 1


async def test_an_empty_chain_is_intact(db: Database, tenant_a: uuid.UUID) -> None:
    report = await verify(db, tenant_a)
    assert report == ChainReport(tenant_a, True, 0, None, None)


@pytest.mark.parametrize("batch_size", [1, 3, 10, 1000])
async def test_an_untouched_chain_is_intact(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents, batch_size: int
) -> None:
    await write_events(tenant_a, 10)
    report = await verify(db, tenant_a, batch_size)
    assert report == ChainReport(tenant_a, True, 10, None, None)


@pytest.mark.parametrize(
    "change",
    [
        "data = data || '{\"n\": 500}'",
        "action = 'item.deleted'",
        "actor_id = 'someone-else'",
        "target_id = 'x'",
        "occurred_at = occurred_at - interval '1 microsecond'",
        "request_id = 'req-forged'",
        "id = gen_random_uuid()",
        "hash = repeat('a', 64)",
    ],
)
async def test_an_altered_event_is_reported_at_its_seq(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents, owner_conn: psycopg.Connection, change: str
) -> None:
    await write_events(tenant_a, 10)
    tamper(
        owner_conn,
        tenant_a,
        f"UPDATE audit_events SET {change} WHERE tenant_id = %(tenant)s AND seq = %(seq)s",
        5,
    )
    report = await verify(db, tenant_a)
    assert not report.ok
    assert report.broken_seq == 5
    assert report.reason == "event 5 was altered: its content does not match its hash"
    assert report.events_checked == 5


async def test_data_made_unhashable_is_reported_as_altered(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents, owner_conn: psycopg.Connection
) -> None:
    await write_events(tenant_a, 3)
    tamper(
        owner_conn,
        tenant_a,
        "UPDATE audit_events SET data = '{\"n\": 2.5}' WHERE tenant_id = %(tenant)s AND seq = %(seq)s",
        2,
    )
    report = await verify(db, tenant_a)
    assert report.broken_seq == 2
    assert "event 2 was altered" in (report.reason or "")


async def test_a_rehashed_forgery_breaks_the_next_link(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents, owner_conn: psycopg.Connection
) -> None:
    """Altering event 5 and recomputing its hash still leaves event 6 pointing at the old hash."""
    await write_events(tenant_a, 10)
    row = owner_conn.execute(
        "SELECT id, occurred_at, actor_type, actor_id, target_type, target_id, data, request_id, prev_hash"
        " FROM audit_events WHERE tenant_id = %s AND seq = 5",
        (tenant_a,),
    ).fetchone()
    assert row is not None
    event_id, occurred_at, actor_type, actor_id, target_type, target_id, data, request_id, prev = row
    fields = event_fields(
        tenant_id=tenant_a,
        seq=5,
        event_id=event_id,
        occurred_at=occurred_at,
        actor_type=actor_type,
        actor_id=actor_id,
        action="item.deleted",
        target_type=target_type,
        target_id=target_id,
        data=data,
        request_id=request_id,
    )
    owner_conn.execute(
        "UPDATE audit_events SET action = 'item.deleted', hash = %s WHERE tenant_id = %s AND seq = 5",
        (chain_hash(fields, prev), tenant_a),
    )
    report = await verify(db, tenant_a)
    assert report.broken_seq == 6
    assert report.reason == "event 6 does not link to the chain: its prev_hash is not the hash of event 5"


async def test_a_deleted_event_is_reported_as_a_gap(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents, owner_conn: psycopg.Connection
) -> None:
    await write_events(tenant_a, 10)
    tamper(owner_conn, tenant_a, "DELETE FROM audit_events WHERE tenant_id = %(tenant)s AND seq = %(seq)s", 7)
    report = await verify(db, tenant_a)
    assert report.broken_seq == 7
    assert report.reason == "event 7 is missing: the chain jumps from seq 6 to 8"


async def test_a_deleted_newest_event_is_reported_against_the_head(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents, owner_conn: psycopg.Connection
) -> None:
    await write_events(tenant_a, 10)
    tamper(
        owner_conn, tenant_a, "DELETE FROM audit_events WHERE tenant_id = %(tenant)s AND seq = %(seq)s", 10
    )
    report = await verify(db, tenant_a)
    assert report.broken_seq == 10
    assert report.reason == "event 10 is missing: the chain head is at seq 10 but the last event is 9"
    assert report.events_checked == 9


async def test_a_head_that_does_not_match_the_last_event_is_reported(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents, owner_conn: psycopg.Connection
) -> None:
    await write_events(tenant_a, 4)
    owner_conn.execute("UPDATE audit_heads SET hash = repeat('b', 64) WHERE tenant_id = %s", (tenant_a,))
    report = await verify(db, tenant_a)
    assert report.broken_seq == 4
    assert report.reason == "the chain head's hash does not match the hash of event 4"

    owner_conn.execute("DELETE FROM audit_heads WHERE tenant_id = %s", (tenant_a,))
    report = await verify(db, tenant_a)
    assert report.broken_seq == 4
    assert report.reason == "the chain head is missing although events run to seq 4"


async def test_verify_refuses_a_session_bound_to_another_tenant(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID, write_events: WriteEvents
) -> None:
    """Row-level security would hide A's events from B's transaction: that is no proof of an intact chain."""
    await write_events(tenant_a, 2)
    async with db.transaction(DbScope.tenant(tenant_b)) as s:
        with pytest.raises(ValueError, match="bound to tenant"):
            await verify_chain(s, tenant_a)
    async with db.transaction(DbScope.platform()) as s:
        with pytest.raises(ValueError, match="bound to no tenant"):
            await verify_chain(s, tenant_a)
