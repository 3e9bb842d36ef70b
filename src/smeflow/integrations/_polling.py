"""Polling triggers: each active integration's polling triggers (Africa's Talking's inbox, say)
run every ``interval_seconds``, and what they find goes into the inbox like a webhook delivery.

Key contracts:

* One poll of one (integration, trigger) at a time, across every worker: the poll runs in a
  transaction holding its ``integration_cursors`` row (``FOR UPDATE SKIP LOCKED``); the events it
  found, a ``webhook_deliveries`` row recording the poll (header ``x-smeflow-polled``), and the new
  cursor commit together. A poll that fails keeps the old cursor (the next poll asks again) and
  records a safe ``last_error``; it is tried again at the next interval.
* Events are deduplicated with the webhook ones (the same ``(integration, event_id)``), so a
  message that arrived both ways is processed once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

import orjson
from psycopg.types.json import Jsonb
from sqlalchemy import select, text

from smeflow.connectors import ActionContext, ConnectorError, ConnectorRegistry, HttpFactory, PollingDef
from smeflow.core import new_id, utcnow
from smeflow.db import Database, DbScope
from smeflow.errors import SMEFlowError
from smeflow.integrations._ingress import INBOX_CHANNEL
from smeflow.integrations._vault import Vault
from smeflow.integrations._work import safe_message
from smeflow.integrations.models import Integration, IntegrationCursor
from smeflow.integrations.service import open_row

logger = logging.getLogger(__name__)

_LIST = text(
    "SELECT i.tenant_id, i.id, i.connector, c.trigger, c.polled_at FROM integrations i"
    " LEFT JOIN integration_cursors c ON c.tenant_id = i.tenant_id AND c.integration_id = i.id"
    " WHERE i.status = 'active' AND i.connector = ANY(:connectors)"
)

_STORE = """
WITH delivery AS (
    INSERT INTO webhook_deliveries
        (tenant_id, id, integration_id, connector, status, headers, body, client_ip, error, received_at)
    VALUES (%(tenant)s, %(delivery)s, %(integration)s, %(connector)s, 'accepted', %(headers)s, %(body)s,
            NULL, NULL, now())
), added AS (
    INSERT INTO inbox_events (tenant_id, id, integration_id, delivery_id, event_id, kind, reference, data,
                              status, attempts, next_attempt_at, created_at)
    SELECT %(tenant)s, e.id, %(integration)s, %(delivery)s, e.event_id, e.kind, e.reference,
           coalesce(e.data, '{}'::jsonb), 'pending', 0, now(), now()
      FROM jsonb_to_recordset(%(events)s) AS e(id uuid, event_id text, kind text, reference text, data jsonb)
    ON CONFLICT (tenant_id, integration_id, event_id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM added
"""


class PollingWorker:
    """Runs every active integration's polling triggers when they are due."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        connectors: ConnectorRegistry,
        http: HttpFactory,
        *,
        tick_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.vault = vault
        self.connectors = connectors
        self.http = http
        self.tick_seconds = tick_seconds
        self.triggers: dict[str, dict[str, PollingDef]] = {
            c.key: {p.name: p for p in type(c).polling_triggers()}
            for c in connectors.all()
            if type(c).polling_triggers()
        }

    async def due(self) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
        """``(tenant, integration, trigger)`` of every poll due now."""
        if not self.triggers:
            return []
        async with self.db.transaction(DbScope.platform()) as session:
            rows = (await session.execute(_LIST, {"connectors": list(self.triggers)})).all()
        connector_of: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
        polled: dict[tuple[uuid.UUID, uuid.UUID, str], datetime | None] = {}
        for tenant_id, integration_id, connector, trigger, polled_at in rows:
            connector_of[(tenant_id, integration_id)] = connector
            if trigger is not None:
                polled[(tenant_id, integration_id, trigger)] = polled_at
        now, found = utcnow(), []
        for (tenant_id, integration_id), connector in connector_of.items():
            for name, definition in self.triggers[connector].items():
                at = polled.get((tenant_id, integration_id, name))
                if at is None or at + timedelta(seconds=definition.interval_seconds) <= now:
                    found.append((tenant_id, integration_id, name))
        return found

    async def poll(self, tenant_id: uuid.UUID, integration_id: uuid.UUID, trigger: str) -> int | None:
        """Run one poll if nobody else is; the number of new events (None: not run)."""
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            await session.execute(
                text(
                    "INSERT INTO integration_cursors (tenant_id, integration_id, trigger)"
                    " VALUES (:t, :i, :g) ON CONFLICT DO NOTHING"
                ),
                {"t": tenant_id, "i": integration_id, "g": trigger},
            )
            cursor = (
                await session.execute(
                    select(IntegrationCursor)
                    .where(
                        IntegrationCursor.tenant_id == tenant_id,
                        IntegrationCursor.integration_id == integration_id,
                        IntegrationCursor.trigger == trigger,
                    )
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            row = await session.get(Integration, (tenant_id, integration_id))
            connector = self.connectors.get(row.connector) if row is not None else None
            definition = self.triggers.get(row.connector, {}).get(trigger) if row is not None else None
            if (
                cursor is None
                or row is None
                or row.status != "active"
                or connector is None
                or definition is None
            ):
                return None
            interval = timedelta(seconds=definition.interval_seconds)
            if cursor.polled_at is not None and cursor.polled_at + interval > utcnow():
                return None  # another worker polled it meanwhile
            try:
                integration = open_row(row, self.connectors, self.vault, public_url=None).integration
            except SMEFlowError as exc:  # outdated settings or secrets that do not open: said, not polled
                cursor.polled_at, cursor.last_error = utcnow(), safe_message(exc, trigger)
                return 0
            ctx = ActionContext(integration, self.http.for_integration(connector, integration))
            cursor.polled_at = utcnow()
            try:
                found = await definition.func(connector, ctx, cursor.cursor)
            except ConnectorError as exc:
                cursor.last_error = safe_message(exc, trigger)
                logger.info(
                    "poll %s of integration %s failed: %s", trigger, integration_id, cursor.last_error
                )
                return 0
            cursor.cursor, cursor.last_error = found.cursor, None
            await session.flush()
            if not found.events:
                return 0
            events = [
                {
                    "id": str(new_id()),
                    "event_id": e.event_id,
                    "kind": e.kind,
                    "reference": e.reference,
                    "data": e.data,
                }
                for e in found.events
            ]
            connection = await session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            added = await (
                await driver.execute(
                    _STORE,
                    {
                        "tenant": tenant_id,
                        "delivery": new_id(),
                        "integration": integration_id,
                        "connector": row.connector,
                        "headers": Jsonb({"x-smeflow-polled": trigger}),
                        "body": orjson.dumps([e.model_dump(mode="json") for e in found.events]),
                        "events": Jsonb(events),
                    },
                )
            ).fetchone()
            count = int(added[0]) if added else 0
            if count:
                await session.execute(text("SELECT pg_notify(:c, '')"), {"c": INBOX_CHANNEL})
            return count

    async def run_once(self) -> int:
        """Run every poll due now; how many new events they found."""
        total = 0
        for tenant_id, integration_id, trigger in await self.due():
            try:
                total += await self.poll(tenant_id, integration_id, trigger) or 0
            except Exception:  # one integration's trouble does not stop the others
                logger.exception("poll %s of integration %s could not run", trigger, integration_id)
        return total

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception:
                logger.exception("the pollers cannot reach the database; retrying")
            await asyncio.sleep(self.tick_seconds)


__all__ = ["PollingWorker"]
