"""A stored delivery survives its processing's crash, and is processed exactly once: real
``smeflow worker`` processes (the tests' handler installed through the ``smeflow.inbox_handlers``
entry-point group). The handler writes its effect in the claiming transaction and then waits at a
loopback gate; the worker is SIGKILLed there, mid-event. The event stays pending with no effect; a
second worker processes it; the effect exists once, although the handler ran twice."""

from __future__ import annotations

import uuid

import psycopg

from smeflow.connectors import ConnectorRegistry
from smeflow.db import Database
from smeflow.integrations import Ingress
from smeflow.settings import Settings

from .conftest import Workers, sigkill
from .connectors import Gate, charge_success
from .plugin import EFFECT
from .rows import PAYSTACK_SECRET, add_integration, count, eventually
from .test_inbox import deliver

EVENT = "charge.success:696134701"


def effects(owner_conn: psycopg.Connection) -> int:
    return count(owner_conn, "audit_events", "action = %s", EFFECT)


def status(owner_conn: psycopg.Connection) -> tuple[str, int] | None:
    row = owner_conn.execute("SELECT status, attempts FROM inbox_events").fetchone()
    return (row[0], row[1]) if row else None


async def test_a_worker_killed_mid_event_loses_nothing_and_the_event_is_processed_once(
    db: Database,
    settings: Settings,
    registry: ConnectorRegistry,
    tenant_a: uuid.UUID,
    workers: Workers,
    owner_conn: psycopg.Connection,
) -> None:
    hooked = await add_integration(
        db, settings, tenant_a, "paystack_test", credentials={"secret_key": PAYSTACK_SECRET}
    )
    with Gate() as gate:
        first = await workers.start(INGRESS_TEST_GATE=gate.url)
        ingress = Ingress(db, settings, registry)
        await deliver(ingress, hooked, charge_success(1))  # acknowledged = committed
        await ingress.aclose()
        await eventually(lambda: gate.calls() == [EVENT], "the handler to reach the gate")
        assert effects(owner_conn) == 0  # written, not committed: the worker is mid-event
        await sigkill(first)

        def rolled_back() -> bool:  # the server ends the dead worker's transaction, releasing the row
            locks = "SELECT count(*) FROM pg_locks WHERE relation = 'inbox_events'::regclass"
            row = owner_conn.execute(locks).fetchone()
            return row is not None and row[0] == 0

        await eventually(rolled_back, "the dead worker's transaction to end")
        assert status(owner_conn) == ("pending", 0)
        assert effects(owner_conn) == 0

        gate.open.set()
        await workers.start(INGRESS_TEST_GATE=gate.url)
        await eventually(lambda: status(owner_conn) == ("processed", 1), "the second worker to process it")
        assert gate.calls() == [EVENT, EVENT]  # the handler ran twice…
    assert effects(owner_conn) == 1  # …and its effect committed once
    assert count(owner_conn, "webhook_deliveries", "status = 'accepted'") == 1
