"""Versioned workflows on the real database: drafts, publishing, immutable versions, diffs."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from smeflow.audit import Actor, AuditEvent, verify_chain
from smeflow.db import Database, DbScope
from smeflow.engine.definitions import definition_diff, validate_definition
from smeflow.engine.models import Workflow, WorkflowVersion
from smeflow.engine.workflows import (
    archive,
    create_workflow,
    diff_versions,
    get_version,
    get_workflow,
    list_versions,
    list_workflows,
    publish,
    update_draft,
)
from smeflow.errors import Conflict, NotFound, ValidationFailed
from smeflow.identity import Principal

from .salon import salon

SYSTEM = Actor.system("tests")


def broken() -> dict[str, Any]:
    """The salon definition with three problems in different places."""
    definition = salon()
    definition["nodes"][1]["config"]["fields"][0]["type"] = "telepathy"
    definition["edges"].append({"from": "nowhere", "to": "done"})
    del definition["triggers"]
    return definition


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


async def new_workflow(
    db: Database, tenant: uuid.UUID, definition: dict[str, Any] | None = None, name: str = "Booking"
) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        workflow, _ = await create_workflow(
            session, SYSTEM, tenant, name, salon() if definition is None else definition
        )
        return workflow.id


async def publish_now(db: Database, tenant: uuid.UUID, workflow_id: uuid.UUID, note: str = "") -> int:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        return (await publish(session, SYSTEM, tenant, workflow_id, note)).version


async def actions(db: Database, tenant: uuid.UUID) -> list[str]:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        rows = await session.execute(select(AuditEvent.action).order_by(AuditEvent.seq))
        return list(rows.scalars())


def snapshot(owner: psycopg.Connection) -> dict[str, Any]:
    """Every row of the workflow tables and the audit log (as the owner)."""
    return {
        table: owner.execute(f"SELECT t::text FROM {table} t ORDER BY t::text").fetchall()
        for table in ("workflows", "workflow_versions", "audit_events", "audit_heads")
    }


async def test_a_draft_may_be_invalid_and_says_why(db: Database, tenant_a: uuid.UUID) -> None:
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        workflow, problems = await create_workflow(
            session, SYSTEM, tenant_a, "  Work in progress ", broken(), "not finished"
        )
    assert problems == validate_definition(broken())
    assert {p.code for p in problems} >= {"invalid_config", "dangling_edge", "missing_field"}
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        stored = await get_workflow(session, tenant_a, workflow.id)
    assert (stored.name, stored.status, stored.latest_version) == ("Work in progress", "draft", None)
    assert stored.draft_definition == broken()
    assert stored.created_by == stored.updated_by == "system:tests"
    assert await actions(db, tenant_a) == ["workflow.created"]


async def test_publish_numbers_versions_and_keeps_each_one(db: Database, tenant_a: uuid.UUID) -> None:
    workflow_id = await new_workflow(db, tenant_a)
    assert await publish_now(db, tenant_a, workflow_id, "first") == 1
    changed = salon()
    changed["nodes"][4]["config"]["duration"] = 1800
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        _, problems = await update_draft(session, SYSTEM, tenant_a, workflow_id, definition=changed)
    assert problems == []
    assert await publish_now(db, tenant_a, workflow_id, "longer hold") == 2

    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        workflow = await get_workflow(session, tenant_a, workflow_id)
        assert (workflow.status, workflow.latest_version) == ("active", 2)
        first = await get_version(session, tenant_a, workflow_id, 1)
        second = await get_version(session, tenant_a, workflow_id, 2)
        listed = await list_versions(session, tenant_a, workflow_id, limit=10)
        older = await list_versions(session, tenant_a, workflow_id, limit=10, before_version=2)
        with pytest.raises(NotFound, match="No such version"):
            await get_version(session, tenant_a, workflow_id, 3)
    assert first.definition == salon()
    assert second.definition == changed
    assert (first.note, second.note) == ("first", "longer hold")
    assert [v.version for v in listed] == [2, 1]
    assert [v.version for v in older] == [1]
    assert await actions(db, tenant_a) == [
        "workflow.created",
        "workflow.published",
        "workflow.updated",
        "workflow.published",
    ]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        event = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "workflow.published"))
        ).scalars()
        assert [e.data["version"] for e in event] == [1, 2]
        assert (await verify_chain(session, tenant_a)).ok


async def test_published_versions_cannot_be_changed_by_the_application(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    workflow_id = await new_workflow(db, tenant_a)
    await publish_now(db, tenant_a, workflow_id)
    for statement in (
        "UPDATE workflow_versions SET definition = '{}'",
        "UPDATE workflow_versions SET note = 'rewritten history'",
        "DELETE FROM workflow_versions",
        "DELETE FROM workflows",
    ):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.transaction(DbScope.tenant(tenant_a)) as session:
                await session.execute(text(statement))
    privileges = owner_conn.execute(
        "SELECT privilege_type FROM information_schema.role_table_grants"
        " WHERE grantee = 'smeflow_app' AND table_name = 'workflow_versions' ORDER BY 1"
    ).fetchall()
    assert [p[0] for p in privileges] == ["INSERT", "SELECT"]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await get_version(session, tenant_a, workflow_id, 1)).definition == salon()


async def test_an_invalid_draft_is_not_published_and_nothing_changes(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    workflow_id = await new_workflow(db, tenant_a)
    await publish_now(db, tenant_a, workflow_id)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await update_draft(session, SYSTEM, tenant_a, workflow_id, definition=broken())
    before = snapshot(owner_conn)

    with pytest.raises(ValidationFailed) as refused:
        await publish_now(db, tenant_a, workflow_id, "should not happen")
    expected = validate_definition(broken())
    assert len(refused.value.fields) == len(expected) >= 3
    assert {f.field for f in refused.value.fields} == {
        "definition.nodes[1].config.fields[0].type",
        f"definition.edges[{len(salon()['edges'])}].from",
        "definition.triggers",
    }
    assert {f.code for f in refused.value.fields} == {p.code for p in expected}
    assert snapshot(owner_conn) == before
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await verify_chain(session, tenant_a)).ok
        workflow = await get_workflow(session, tenant_a, workflow_id)
        assert workflow.latest_version == 1


async def test_concurrent_publishes_get_consecutive_distinct_versions(
    db: Database, tenant_a: uuid.UUID
) -> None:
    workflow_id = await new_workflow(db, tenant_a)
    numbers = await asyncio.gather(*(publish_now(db, tenant_a, workflow_id, f"n{i}") for i in range(6)))
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        workflow = await get_workflow(session, tenant_a, workflow_id)
        rows = (await session.execute(select(WorkflowVersion.version, WorkflowVersion.note))).all()
        assert workflow.latest_version == 6
        assert sorted(r.version for r in rows) == [1, 2, 3, 4, 5, 6]
        assert (await verify_chain(session, tenant_a)).ok


async def test_diff_between_versions(db: Database, tenant_a: uuid.UUID) -> None:
    workflow_id = await new_workflow(db, tenant_a)
    await publish_now(db, tenant_a, workflow_id)
    changed = salon()
    changed["nodes"][4]["config"]["duration"] = 1800
    changed["edges"].reverse()  # order alone is no change
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await update_draft(session, SYSTEM, tenant_a, workflow_id, definition=changed)
    await publish_now(db, tenant_a, workflow_id)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        forward = await diff_versions(session, tenant_a, workflow_id, 1, 2)
        backward = await diff_versions(session, tenant_a, workflow_id, 2, 1)
        same = await diff_versions(session, tenant_a, workflow_id, 2, 2)
        with pytest.raises(NotFound, match="No such version"):
            await diff_versions(session, tenant_a, workflow_id, 1, 9)
    assert forward == definition_diff(salon(), changed)
    assert forward == [
        {
            "change": "node_changed",
            "id": "hold",
            "changes": [{"path": "config.duration", "before": 900, "after": 1800}],
        }
    ]
    assert backward[0]["changes"] == [{"path": "config.duration", "before": 1800, "after": 900}]
    assert same == []


async def test_archived_workflows_take_no_more_changes(db: Database, tenant_a: uuid.UUID) -> None:
    workflow_id = await new_workflow(db, tenant_a)
    await publish_now(db, tenant_a, workflow_id)
    for _ in range(2):  # idempotent: archived once, audited once
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            workflow = await archive(session, SYSTEM, tenant_a, workflow_id)
            assert workflow.status == "archived"
    with pytest.raises(Conflict, match="archived"):
        await publish_now(db, tenant_a, workflow_id)
    with pytest.raises(Conflict, match="archived"):
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            await update_draft(session, SYSTEM, tenant_a, workflow_id, name="Revived")
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await get_version(session, tenant_a, workflow_id, 1)).version == 1
        assert [w.status for w in await list_workflows(session, tenant_a, limit=5, status="archived")] == [
            "archived"
        ]
        assert await list_workflows(session, tenant_a, limit=5, status="active") == []
    assert await actions(db, tenant_a) == ["workflow.created", "workflow.published", "workflow.archived"]


async def test_names_are_unique_in_a_tenant_only(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    first = await new_workflow(db, tenant_a, name="Reminders")
    await new_workflow(db, tenant_a, name="Invoices")
    await new_workflow(db, tenant_b, name="Reminders")  # another tenant: no clash
    before = snapshot(owner_conn)
    with pytest.raises(Conflict) as taken:
        await new_workflow(db, tenant_a, name="Reminders")
    assert [(f.field, f.code) for f in taken.value.fields] == [("name", "duplicate")]
    with pytest.raises(Conflict):
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            await update_draft(session, SYSTEM, tenant_a, first, name="Invoices")
    assert snapshot(owner_conn) == before


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"name": "a\x00b"}, "NUL"),
        ({"nodes": [{"timeout": math.nan}]}, "finite"),
        ({"x": {"y": "\ud800"}}, "Unicode"),
        ({"deep": nested(70)}, "deep"),
        (["not", "an", "object"], "object"),
    ],
)
async def test_what_cannot_be_stored_is_refused(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection, definition: Any, message: str
) -> None:
    before = snapshot(owner_conn)
    with pytest.raises(ValidationFailed, match=message) as refused:
        await new_workflow(db, tenant_a, definition=definition)
    assert [f.field for f in refused.value.fields] == ["definition"]
    assert snapshot(owner_conn) == before


async def test_other_tenants_workflows_do_not_exist(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    workflow_id = await new_workflow(db, tenant_a)
    await publish_now(db, tenant_a, workflow_id)
    intruder = Principal(kind="user", tenant_id=tenant_b, role="owner", user_id=uuid.uuid4())
    async with db.transaction(DbScope.tenant(tenant_b)) as session:
        # B's scope, asking for A's workflow by id (RLS hides it)
        for read in (
            get_workflow(session, tenant_a, workflow_id),
            get_version(session, tenant_a, workflow_id, 1),
            list_versions(session, tenant_a, workflow_id, limit=5),
            diff_versions(session, tenant_a, workflow_id, 1, 1),
            publish(session, SYSTEM, tenant_b, workflow_id),
            archive(session, SYSTEM, tenant_b, workflow_id),
        ):
            with pytest.raises(NotFound, match="No such workflow"):
                await read
        assert await list_workflows(session, tenant_b, limit=5) == []
        assert (await session.execute(select(Workflow))).scalars().all() == []
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        # a principal of B naming tenant A is refused before any query
        with pytest.raises(NotFound, match="No such workflow"):
            await update_draft(session, intruder, tenant_a, workflow_id, name="Mine now")
        assert (await get_workflow(session, tenant_a, workflow_id)).name == "Booking"


async def test_list_pages_by_name(db: Database, tenant_a: uuid.UUID) -> None:
    for name in ("Cc", "Aa", "Bb", "Dd", "Ee"):
        await new_workflow(db, tenant_a, definition={}, name=name)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        first = await list_workflows(session, tenant_a, limit=2)
        second = await list_workflows(session, tenant_a, limit=2, after_name=first[-1].name)
        rest = await list_workflows(session, tenant_a, limit=2, after_name=second[-1].name)
        assert [w.name for w in first + second + rest] == ["Aa", "Bb", "Cc", "Dd", "Ee"]
        assert {w.status for w in first} == {"draft"}


async def test_only_real_changes_are_saved_and_audited(db: Database, tenant_a: uuid.UUID) -> None:
    workflow_id = await new_workflow(db, tenant_a, definition={"retries": True})
    for definition in ({"retries": True}, {"retries": 1}, {"retries": 1}):  # True == 1 in Python only
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            await update_draft(session, SYSTEM, tenant_a, workflow_id, name="Booking", definition=definition)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        stored = await get_workflow(session, tenant_a, workflow_id)
        assert stored.draft_definition == {"retries": 1}
        assert type(stored.draft_definition["retries"]) is int
    assert await actions(db, tenant_a) == ["workflow.created", "workflow.updated"]
