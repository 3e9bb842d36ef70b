"""Inbox processing in one process: each event goes to the handler of its kind (exact, then
longest prefix) in the claiming transaction; a replay is processed once; a failing handler leaves
no effect, is retried with backoff and given up after N attempts with a safe message; an event
with no handler is done with a note; concurrent workers process each event once; the ingress's
notification wakes a worker that would otherwise sleep for an hour."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.connectors import ConnectorRegistry
from smeflow.db import Database
from smeflow.errors import Conflict
from smeflow.integrations import Arrival, Backoff, Handler, InboxWorker, Ingress, handler_for
from smeflow.integrations.models import InboxEvent
from smeflow.settings import Settings

from .connectors import charge_success, paystack_signature
from .rows import PAYSTACK_SECRET, Hooked, add_integration, count, eventually

EFFECT = "test.effect"


async def body_of(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def deliver(ingress: Ingress, hooked: Hooked, body: bytes) -> None:
    """A Paystack-signed delivery through the ingress (as the route hands it over)."""
    await ingress.receive(
        Arrival(
            method="POST",
            provider=hooked.connector,
            integration_id=str(hooked.id),
            token=hooked.token,
            headers={"x-paystack-signature": paystack_signature(PAYSTACK_SECRET, body)},
            query={},
            client_ip="127.0.0.1",
            body=body_of(body),
        )
    )


@pytest.fixture
async def ingress(db: Database, settings: Settings, registry: ConnectorRegistry) -> AsyncIterator[Ingress]:
    made = Ingress(db, settings, registry)
    yield made
    await made.aclose()


@pytest.fixture
async def paystack(db: Database, settings: Settings, tenant_a: uuid.UUID) -> Hooked:
    return await add_integration(
        db, settings, tenant_a, "paystack_test", credentials={"secret_key": PAYSTACK_SECRET}
    )


async def effect(session: AsyncSession, event: InboxEvent) -> None:
    """A handler whose effect is an audit event in the claiming transaction."""
    await record(session, event.tenant_id, Actor.system("test"), EFFECT, "inbox_event", event.event_id)


def effects(owner_conn: psycopg.Connection) -> list[str]:
    rows = owner_conn.execute("SELECT target_id FROM audit_events WHERE action = %s ORDER BY 1", (EFFECT,))
    return [row[0] for row in rows.fetchall()]


def events(owner_conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return owner_conn.execute(
        "SELECT event_id, status, attempts, last_error, next_attempt_at FROM inbox_events ORDER BY event_id"
    ).fetchall()


def test_a_handler_is_found_by_exact_kind_then_by_the_longest_prefix() -> None:
    async def a(session: AsyncSession, event: InboxEvent) -> None: ...

    async def b(session: AsyncSession, event: InboxEvent) -> None: ...

    async def c(session: AsyncSession, event: InboxEvent) -> None: ...

    handlers: dict[str, Handler] = {"payment.": a, "payment.succeeded": b, "payment.refund.": c}
    assert handler_for(handlers, "payment.succeeded") is b
    assert handler_for(handlers, "payment.failed") is a
    assert handler_for(handlers, "payment.refund.done") is c
    assert handler_for(handlers, "message.received") is None
    assert handler_for(handlers, "payment") is None  # a prefix ends with its dot


async def test_a_replayed_delivery_is_processed_once(
    db: Database, ingress: Ingress, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    body = charge_success(1)
    await deliver(ingress, paystack, body)
    await deliver(ingress, paystack, body)
    worker = InboxWorker(db, {"payment.": effect})
    assert await worker.run_once() == 1
    await deliver(ingress, paystack, body)  # again, after it was processed
    assert await worker.run_once() == 0
    assert effects(owner_conn) == ["charge.success:696134701"]
    [(_, status, attempts, last_error, _)] = events(owner_conn)
    assert (status, attempts, last_error) == ("processed", 1, None)


async def test_a_failing_handler_leaves_no_effect_backs_off_and_gives_up(
    db: Database, ingress: Ingress, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    calls = []

    async def failing(session: AsyncSession, event: InboxEvent) -> None:
        calls.append(event.event_id)
        await effect(session, event)  # rolled back with the savepoint
        if len(calls) == 1:
            raise Conflict("the payment is not there yet")
        raise KeyError("sk_live_secret_in_an_exception")

    await deliver(ingress, paystack, charge_success(2))
    before = datetime.now(UTC)
    worker = InboxWorker(db, {"payment.succeeded": failing}, backoff=Backoff(max_attempts=3, base_seconds=60))
    assert await worker.run_once() == 1
    [(_, status, attempts, last_error, due)] = events(owner_conn)
    assert (status, attempts, last_error) == ("pending", 1, "conflict: the payment is not there yet")
    assert (due - before).total_seconds() > 60 * 0.8 - 1  # 60 s ± 20 % jitter from now
    assert await worker.run_once() == 0  # not due yet
    assert effects(owner_conn) == []

    owner_conn.execute("UPDATE inbox_events SET next_attempt_at = now()")
    assert await worker.run_once() == 1
    owner_conn.execute("UPDATE inbox_events SET next_attempt_at = now()")
    assert await worker.run_once() == 1
    [(_, status, attempts, last_error, _)] = events(owner_conn)
    assert (status, attempts) == ("failed", 3)
    assert last_error == "internal error in the handler of 'payment.succeeded' (KeyError)"
    assert await worker.run_once() == 0  # failed is final
    assert len(calls) == 3
    assert effects(owner_conn) == []


async def test_a_handler_that_hangs_has_failed(
    db: Database, ingress: Ingress, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    async def hangs(session: AsyncSession, event: InboxEvent) -> None:
        await asyncio.Event().wait()

    await deliver(ingress, paystack, charge_success(3))
    worker = InboxWorker(db, {"payment.": hangs}, timeout_seconds=0.1)
    assert await worker.run_once() == 1
    [(_, status, attempts, last_error, _)] = events(owner_conn)
    assert (status, attempts, last_error) == (
        "pending",
        1,
        "the handler of 'payment.succeeded' did not finish in time",
    )


async def test_an_event_with_no_handler_is_done_with_a_note(
    db: Database, ingress: Ingress, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    await deliver(ingress, paystack, charge_success(4))
    assert await InboxWorker(db, {"message.": effect}).run_once() == 1
    [(_, status, attempts, last_error, _)] = events(owner_conn)
    assert (status, attempts) == ("processed", 1)
    assert last_error == "no handler for events of kind 'payment.succeeded': nothing to do"
    assert effects(owner_conn) == []


async def test_concurrent_workers_process_each_event_once(
    db: Database,
    settings: Settings,
    ingress: Ingress,
    paystack: Hooked,
    tenant_b: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    other = await add_integration(
        db, settings, tenant_b, "paystack_test", credentials={"secret_key": PAYSTACK_SECRET}
    )
    for n in range(20):
        await deliver(ingress, paystack if n % 2 else other, charge_success(n))

    async def slow_effect(session: AsyncSession, event: InboxEvent) -> None:
        await effect(session, event)
        await asyncio.sleep(0.01)

    workers = [InboxWorker(db, {"payment.": slow_effect}, concurrency=3) for _ in range(3)]
    handled = await asyncio.gather(*(w.run_once() for w in workers))
    handled.append(await workers[0].run_once())  # whatever the others skipped while it was locked
    assert sum(handled) == 20
    expected = sorted(f"charge.success:{696134700 + n}" for n in range(20))
    assert effects(owner_conn) == expected
    assert count(owner_conn, "inbox_events", "status = 'processed' AND attempts = 1") == 20


async def test_the_ingress_notification_wakes_a_sleeping_worker(
    db: Database, ingress: Ingress, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    worker = InboxWorker(db, {"payment.": effect}, poll_seconds=3600)
    task = asyncio.create_task(worker.run())
    try:
        listening = "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN smeflow_inbox'"
        await eventually(lambda: (owner_conn.execute(listening).fetchone() or (0,))[0] > 0, "the listener")
        await asyncio.sleep(0)
        await deliver(ingress, paystack, charge_success(5))
        await eventually(lambda: effects(owner_conn) == ["charge.success:696134705"], "the event's effect")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@given(attempts=st.integers(min_value=1, max_value=60))
def test_backoff_doubles_from_its_base_within_its_jitter_up_to_its_cap(attempts: int) -> None:
    backoff = Backoff(base_seconds=2.0, max_seconds=600.0, jitter=0.2)
    raw = min(600.0, 2.0 * 2 ** (attempts - 1))
    assert raw * 0.8 <= backoff.delay(attempts) <= raw * 1.2
