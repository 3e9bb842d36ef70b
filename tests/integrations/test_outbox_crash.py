"""An outbox item whose worker is killed after the provider answered, before the outcome was
recorded, is delivered again with the same idempotency key (the provider places one order), and
never again once recorded. Real ``smeflow worker`` processes (the tests' connector installed
through the ``smeflow.connectors`` entry-point group); the window is made deterministic with no
hook in the product: the outbox table is locked in SHARE mode (reads and row locks still work), so
the worker is stuck right after the call, at the UPDATE of its outcome, and is killed there."""

from __future__ import annotations

import uuid
from collections import Counter

import psycopg
from sqlalchemy import URL

from smeflow.connectors import ConnectorRegistry, HttpFactory
from smeflow.db import Database, to_libpq
from smeflow.settings import Settings

from .conftest import Workers, sigkill
from .connectors import OrdersProvider
from .rows import eventually
from .test_outbox import KEY, item, orders, put, worker


async def test_a_worker_killed_after_the_call_repeats_it_once_with_the_same_key(
    db: Database,
    settings: Settings,
    registry: ConnectorRegistry,
    tenant_a: uuid.UUID,
    workers: Workers,
    clean_db: URL,
    owner_conn: psycopg.Connection,
) -> None:
    with OrdersProvider() as provider:
        hooked = await orders(db, settings, tenant_a, provider.url)
        await put(db, hooked)
        with psycopg.connect(to_libpq(clean_db)) as blocker:
            blocker.execute("LOCK TABLE outbox IN SHARE MODE")
            first = await workers.start()

            def waiting_on_outbox() -> list[int]:
                rows = owner_conn.execute(
                    "SELECT pid FROM pg_locks WHERE NOT granted AND relation = 'outbox'::regclass"
                ).fetchall()
                return [row[0] for row in rows]

            await eventually(lambda: provider.answered == [KEY] and waiting_on_outbox(), "the outcome's wait")
            pids = waiting_on_outbox()
            await sigkill(first)
            for pid in pids:  # the dead worker's connection, as the server would find it
                owner_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            blocker.rollback()
        assert item(owner_conn) == ("pending", 0, None, None)  # the call happened; its outcome did not

        await workers.start()
        await eventually(lambda: item(owner_conn)[0] == "processed", "the second worker to deliver it")
        assert item(owner_conn) == ("processed", 1, None, {"order_id": "order-1"})
        http = HttpFactory()
        try:  # recorded: no worker delivers it again
            assert await worker(db, settings, registry, http).run_once() == 0
        finally:
            await http.aclose()
        assert provider.received() == Counter({KEY: 2})  # the same key both times…
    assert provider.orders == {KEY: "order-1"}  # …so the provider placed one order
