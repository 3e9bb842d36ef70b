"""Writing and reading the audit log as the application: append-only, serialized per tenant,
rolled back with its transaction, isolated between tenants, paged newest first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError

import smeflow.audit
from smeflow.audit import (
    Actor,
    AuditEvent,
    AuditEventOut,
    ChainReportOut,
    list_events,
    record,
    verify_chain,
)
from smeflow.db import Database, DbScope

WriteEvents = Callable[..., Awaitable[None]]


class Boom(Exception):
    pass


async def seqs(db: Database, tenant_id: uuid.UUID) -> list[int]:
    async with db.transaction(DbScope.tenant(tenant_id)) as s:
        return list((await s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))).all())


async def assert_intact(db: Database, tenant_id: uuid.UUID, events: int) -> None:
    async with db.transaction(DbScope.tenant(tenant_id)) as s:
        report = await verify_chain(s, tenant_id, batch_size=7)
    assert (report.ok, report.events_checked, report.reason) == (True, events, None)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'forged'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
async def test_the_application_cannot_rewrite_history(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents, statement: str
) -> None:
    await write_events(tenant_a, 3)
    with pytest.raises(ProgrammingError) as caught:
        async with db.transaction(DbScope.tenant(tenant_a)) as s:
            await s.execute(text(statement))
    assert isinstance(caught.value.orig, InsufficientPrivilege)
    assert "permission denied" in str(caught.value.orig)
    await assert_intact(db, tenant_a, 3)


async def test_concurrent_writers_of_one_tenant_form_one_unbroken_chain(
    db: Database, tenant_a: uuid.UUID
) -> None:
    async def write(i: int) -> None:
        async with db.transaction(DbScope.tenant(tenant_a)) as s:
            await record(s, tenant_a, Actor("user", f"u-{i}"), "item.created", "item", str(i))

    await asyncio.gather(*(write(i) for i in range(50)))

    assert await seqs(db, tenant_a) == list(range(1, 51))
    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        targets = set((await s.scalars(select(AuditEvent.target_id))).all())
        occurred = list((await s.scalars(select(AuditEvent.occurred_at).order_by(AuditEvent.seq))).all())
    assert targets == {str(i) for i in range(50)}
    assert occurred == sorted(occurred)  # the clock is read under the head's lock
    await assert_intact(db, tenant_a, 50)


async def test_concurrent_writers_of_two_tenants_each_get_their_own_chain(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    async def write(tenant_id: uuid.UUID, i: int) -> None:
        async with db.transaction(DbScope.tenant(tenant_id)) as s:
            await record(s, tenant_id, Actor.system(), "item.created", "item", str(i))

    await asyncio.gather(*(write(t, i) for i in range(20) for t in (tenant_a, tenant_b)))

    for tenant_id in (tenant_a, tenant_b):
        assert await seqs(db, tenant_id) == list(range(1, 21))
        await assert_intact(db, tenant_id, 20)


async def test_a_rolled_back_record_leaves_no_trace(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents
) -> None:
    await write_events(tenant_a, 3)

    async def record_then_fail() -> AuditEvent:
        async with db.transaction(DbScope.tenant(tenant_a)) as s:
            event = await record(s, tenant_a, Actor.system(), "item.created", "item", "lost")
            raise Boom(event)

    with pytest.raises(Boom) as failed:
        await record_then_fail()
    lost = failed.value.args[0]
    assert lost.seq == 4

    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        assert (await s.scalar(select(AuditEvent).where(AuditEvent.id == lost.id))) is None
        kept = await record(s, tenant_a, Actor.system(), "item.created", "item", "kept")
    assert kept.seq == 4
    assert await seqs(db, tenant_a) == [1, 2, 3, 4]
    await assert_intact(db, tenant_a, 4)


async def test_tenants_see_only_their_own_events(
    db: Database,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    write_events: WriteEvents,
    owner_conn: psycopg.Connection,
) -> None:
    await write_events(tenant_a, 5)
    await write_events(tenant_b, 2)

    async with db.transaction(DbScope.tenant(tenant_b)) as s:
        visible = (await s.scalars(select(AuditEvent))).all()
        heads = (await s.execute(text("SELECT tenant_id FROM audit_heads"))).scalars().all()
        assert await list_events(s, tenant_a, limit=100) == []
    assert {e.tenant_id for e in visible} == {tenant_b}
    assert len(visible) == 2
    assert heads == [tenant_b]

    owner_conn.execute("DELETE FROM audit_events WHERE tenant_id = %s AND seq = 2", (tenant_a,))
    await assert_intact(db, tenant_b, 2)
    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        assert (await verify_chain(s, tenant_a)).broken_seq == 2


async def test_a_tenant_cannot_write_into_another_tenants_chain(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID, write_events: WriteEvents
) -> None:
    await write_events(tenant_a, 1)
    with pytest.raises(ProgrammingError):
        async with db.transaction(DbScope.tenant(tenant_b)) as s:
            await record(s, tenant_a, Actor.system(), "item.created", "item", "x")
    assert await seqs(db, tenant_a) == [1]
    assert await seqs(db, tenant_b) == []


async def test_list_events_pages_newest_first(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents
) -> None:
    await write_events(tenant_a, 7)
    pages: list[list[int]] = []
    before: int | None = None
    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        while page := await list_events(s, tenant_a, limit=3, before_seq=before):
            pages.append([e.seq for e in page])
            before = page[-1].seq
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]


async def test_list_events_filters(db: Database, tenant_a: uuid.UUID, write_events: WriteEvents) -> None:
    await write_events(tenant_a, 3)
    await write_events(tenant_a, 2, action="item.deleted")
    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        await record(s, tenant_a, Actor.system(), "invoice.sent", "invoice", "1")

        deleted = await list_events(s, tenant_a, limit=10, action="item.deleted")
        assert [e.seq for e in deleted] == [5, 4]
        invoices = await list_events(s, tenant_a, limit=10, target_type="invoice")
        assert [e.seq for e in invoices] == [6]
        item_2 = await list_events(s, tenant_a, limit=10, target_type="item", target_id="2")
        assert [(e.seq, e.action) for e in item_2] == [(5, "item.deleted"), (2, "item.updated")]
        older = await list_events(s, tenant_a, limit=10, action="item.updated", before_seq=3)
        assert [e.seq for e in older] == [2, 1]
        with pytest.raises(ValueError, match="limit"):
            await list_events(s, tenant_a, limit=0)


async def test_output_schemas_read_events_and_reports(
    db: Database, tenant_a: uuid.UUID, write_events: WriteEvents
) -> None:
    await write_events(tenant_a, 2)
    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        newest = (await list_events(s, tenant_a, limit=1))[0]
        report = await verify_chain(s, tenant_a)
    out = AuditEventOut.model_validate(newest)
    assert out.model_dump() == {c: getattr(newest, c) for c in AuditEvent.__table__.c.keys()}  # noqa: SIM118
    assert out.data == {"n": 2}
    assert ChainReportOut.model_validate(report).model_dump() == {
        "tenant_id": tenant_a,
        "ok": True,
        "events_checked": 2,
        "broken_seq": None,
        "reason": None,
    }


def test_public_names_are_all() -> None:
    public = {name for name in vars(smeflow.audit) if not name.startswith("_")}
    public -= {"models", "schemas", "service"}  # submodules
    assert public == set(smeflow.audit.__all__)


async def test_awkward_data_survives_the_jsonb_round_trip(db: Database, tenant_a: uuid.UUID) -> None:
    """JSONB re-encodes what it stores; the hash must still match what comes back."""
    data = {
        "big": 2**70,
        "negative": -(2**64),
        "text": "ñ 日本 \u2028 😀",
        "escapes": '"\\/\b\f\n\r\t',
        "": [],
        "k😀": {"z": [None, True, False, 0, {"": ""}]},
    }
    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        await record(s, tenant_a, Actor("user", "é"), "ação", "tipo", "ß", data, request_id="r-1")
    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        stored = (await list_events(s, tenant_a, limit=1))[0]
    assert stored.data == data
    await assert_intact(db, tenant_a, 1)
