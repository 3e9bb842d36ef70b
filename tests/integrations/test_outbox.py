"""The outbox in one process, against a loopback provider: enqueue twice is once (and nothing if
the transaction rolls back); delivery carries the item's idempotency key; a 5xx is retried with
backoff, the same key reaching the provider each time; a refusal fails the item with a safe
message; a delivered item is never delivered again; one item is never delivered twice at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from smeflow.connectors import ConnectorRegistry, HttpFactory
from smeflow.db import Database, DbScope
from smeflow.errors import Conflict, ValidationFailed
from smeflow.integrations import Backoff, OutboxWorker, enqueue
from smeflow.settings import Settings

from .connectors import OrdersProvider
from .rows import Hooked, add_integration, count, eventually

API_KEY = "ok_live_0123456789abcdef"
KEY = "run-1:order"


@pytest.fixture
async def http() -> AsyncIterator[HttpFactory]:
    factory = HttpFactory()
    yield factory
    await factory.aclose()


@pytest.fixture
def provider() -> Any:
    with OrdersProvider() as server:
        yield server


async def orders(db: Database, settings: Settings, tenant_id: uuid.UUID, url: str) -> Hooked:
    return await add_integration(
        db, settings, tenant_id, "orders_test", credentials={"api_key": API_KEY}, config={"base_url": url}
    )


async def put(db: Database, hooked: Hooked, key: str = KEY, item: str = "braids") -> uuid.UUID:
    async with db.transaction(DbScope.tenant(hooked.tenant_id)) as session:
        return await enqueue(session, hooked.tenant_id, hooked.id, "orders_test.place", {"item": item}, key)


def item(owner_conn: psycopg.Connection) -> tuple[Any, ...]:
    row = owner_conn.execute("SELECT status, attempts, last_error, result FROM outbox").fetchone()
    assert row is not None
    return tuple(row)


def worker(
    db: Database, settings: Settings, registry: ConnectorRegistry, http: HttpFactory, **kw: Any
) -> OutboxWorker:
    return OutboxWorker(db, settings, registry, http, backoff=Backoff(base_seconds=0, jitter=0, **kw))


async def test_enqueue_twice_is_once_and_a_rolled_back_enqueue_is_nothing(
    db: Database, settings: Settings, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    hooked = await orders(db, settings, tenant_a, "http://127.0.0.1:9")
    first, again = await put(db, hooked), await put(db, hooked)
    assert first == again
    assert count(owner_conn, "outbox") == 1
    with pytest.raises(Conflict) as caught:
        await put(db, hooked, item="something else")
    assert [f.field for f in caught.value.fields] == ["idempotency_key"]
    with pytest.raises(ValidationFailed) as invalid:
        await put(db, hooked, key="")
    assert [f.field for f in invalid.value.fields] == ["idempotency_key"]

    async def enqueue_then_fail() -> None:
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            await enqueue(session, tenant_a, hooked.id, "orders_test.place", {"item": "x"}, "run-2:order")
            raise RuntimeError("the change that caused it failed")

    with pytest.raises(RuntimeError):
        await enqueue_then_fail()
    assert count(owner_conn, "outbox") == 1


async def test_an_item_is_delivered_once_with_its_idempotency_key(
    db: Database,
    settings: Settings,
    registry: ConnectorRegistry,
    http: HttpFactory,
    tenant_a: uuid.UUID,
    provider: OrdersProvider,
    owner_conn: psycopg.Connection,
) -> None:
    hooked = await orders(db, settings, tenant_a, provider.url)
    await put(db, hooked)
    await put(db, hooked)
    outbox = worker(db, settings, registry, http)
    assert await outbox.run_once() == 1
    assert item(owner_conn) == ("processed", 1, None, {"order_id": "order-1"})
    assert await outbox.run_once() == 0
    assert provider.received() == Counter({KEY: 1})


async def test_a_5xx_is_retried_with_the_same_key_until_it_succeeds(
    db: Database,
    settings: Settings,
    registry: ConnectorRegistry,
    http: HttpFactory,
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    with OrdersProvider(statuses=[503, 502]) as provider:
        hooked = await orders(db, settings, tenant_a, provider.url)
        await put(db, hooked)
        outbox = worker(db, settings, registry, http)
        assert await outbox.run_once() == 1
        assert item(owner_conn) == ("pending", 1, "connector_unavailable: the provider answered 503", None)
        assert await outbox.run_once() == 1
        assert await outbox.run_once() == 1
        assert item(owner_conn) == ("processed", 3, None, {"order_id": "order-1"})
        assert await outbox.run_once() == 0
    assert provider.keys == [KEY, KEY, KEY]  # the key reached the provider each time


async def test_backoff_puts_the_next_attempt_later(
    db: Database,
    settings: Settings,
    registry: ConnectorRegistry,
    http: HttpFactory,
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    with OrdersProvider(statuses=[503]) as provider:
        hooked = await orders(db, settings, tenant_a, provider.url)
        await put(db, hooked)
        outbox = OutboxWorker(db, settings, registry, http, backoff=Backoff(base_seconds=30, jitter=0))
        assert await outbox.run_once() == 1
        assert await outbox.run_once() == 0  # not due for 30 s
        row = owner_conn.execute("SELECT next_attempt_at - now() FROM outbox").fetchone()
        assert row is not None
        assert 25 < row[0].total_seconds() <= 30
    assert provider.keys == [KEY]


@pytest.mark.parametrize(
    ("statuses", "attempts", "message"),
    [
        ([400], 1, "connector_rejected: the provider refused the order (400)"),
        ([503, 503], 2, "connector_unavailable: the provider answered 503"),
    ],
)
async def test_a_refusal_or_the_last_attempt_fails_the_item_with_a_safe_message(
    db: Database,
    settings: Settings,
    registry: ConnectorRegistry,
    http: HttpFactory,
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
    statuses: list[int],
    attempts: int,
    message: str,
) -> None:
    with OrdersProvider(statuses=statuses) as provider:
        hooked = await orders(db, settings, tenant_a, provider.url)
        await put(db, hooked)
        outbox = worker(db, settings, registry, http, max_attempts=2)
        while await outbox.run_once():
            pass
    assert item(owner_conn) == ("failed", attempts, message, None)
    assert API_KEY not in message


async def test_what_this_worker_cannot_do_now_waits_and_an_unknown_action_fails(
    db: Database,
    settings: Settings,
    registry: ConnectorRegistry,
    http: HttpFactory,
    tenant_a: uuid.UUID,
    provider: OrdersProvider,
    owner_conn: psycopg.Connection,
) -> None:
    hooked = await orders(db, settings, tenant_a, provider.url)
    await put(db, hooked)
    owner_conn.execute("UPDATE integrations SET status = 'disabled'")
    outbox = worker(db, settings, registry, http)
    assert await outbox.run_once() == 1
    assert item(owner_conn) == ("pending", 1, "the integration is disabled", None)
    owner_conn.execute("UPDATE integrations SET status = 'active'")
    lacking = worker(db, settings, ConnectorRegistry(), http)
    assert await lacking.run_once() == 1
    assert item(owner_conn)[:3] == (
        "pending",
        2,
        "the connector 'orders_test' is not installed on this worker",
    )
    owner_conn.execute("UPDATE outbox SET action = 'orders_test.cancel'")
    assert await outbox.run_once() == 1
    assert item(owner_conn)[:3] == ("failed", 3, "orders_test has no action 'orders_test.cancel'")
    assert provider.keys == []


async def test_one_item_is_never_delivered_twice_at_once(
    db: Database,
    settings: Settings,
    registry: ConnectorRegistry,
    http: HttpFactory,
    tenant_a: uuid.UUID,
    provider: OrdersProvider,
    owner_conn: psycopg.Connection,
) -> None:
    hooked = await orders(db, settings, tenant_a, provider.url)
    await put(db, hooked)
    provider.hold()
    first = asyncio.create_task(worker(db, settings, registry, http).run_once())
    await eventually(lambda: provider.keys == [KEY], "the first delivery to arrive")
    assert await worker(db, settings, registry, http).run_once() == 0  # locked by the first: skipped
    provider.release()
    assert await first == 1
    assert provider.received() == Counter({KEY: 1})
    assert item(owner_conn)[0] == "processed"
