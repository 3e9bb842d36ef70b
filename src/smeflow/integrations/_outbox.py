"""The outbox: outbound side effects (connector actions) written in the transaction that causes
them, delivered by workers with retries.

Key contracts:

* :func:`enqueue` writes in the caller's transaction (nothing is sent if it rolls back) and is
  idempotent on ``(tenant, idempotency_key)``: enqueuing twice is enqueuing once (the same item's
  id is returned); the same key for another action, integration or input is a :class:`Conflict`.
  At commit it notifies :data:`OUTBOX_CHANNEL`.
* :class:`OutboxWorker` claims a due item with ``SELECT … FOR UPDATE SKIP LOCKED`` and keeps the
  lock while it calls the connector, so **one item is never delivered twice at once**, by any
  number of workers. The call carries ``ActionContext.idempotency_key`` = the item's key (the
  connector sends it to the provider).
* Success → ``processed`` with the action's output in ``result``; never delivered again. A
  retryable :class:`ConnectorError` (or an unexpected error, a disabled integration, a connector
  this process lacks) → tried again after a backoff (``RateLimited``: not before its
  ``retry_after``); a non-retryable one (or an action the connector does not have) → ``failed``
  with the error's safe message; ``failed`` too after ``max_attempts``.
* At-least-once: a worker that dies after the provider answered and before its transaction
  commits leaves the item pending; it is delivered again **with the same idempotency key**, so a
  provider that honours the key does it once. ``attempts`` counts attempts whose outcome was
  recorded.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.connectors import ActionContext, ConnectorError, ConnectorRegistry, HttpFactory, RateLimited
from smeflow.core import new_id, utcnow
from smeflow.db import Database, DbScope, notify
from smeflow.errors import Conflict, FieldProblem, ValidationFailed
from smeflow.integrations._loading import to_connector_integration
from smeflow.integrations._vault import Vault
from smeflow.integrations._work import Backoff, DueWorker, safe_message
from smeflow.integrations.models import Integration, OutboxItem
from smeflow.settings import Settings

logger = logging.getLogger(__name__)

#: notified (payload: the tenant id) when an item is enqueued
OUTBOX_CHANNEL = "smeflow_outbox"
_MAX_KEY = 200


async def enqueue(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    integration_id: uuid.UUID,
    action: str,
    input: dict[str, Any],
    idempotency_key: str,
) -> uuid.UUID:
    """Add an outbound call of ``action`` (``"paystack.refund"``) to the outbox in the session's
    transaction; the id of the item (the existing one if the key was enqueued before)."""
    problems = []
    if not action or len(action) > 200:
        problems.append(FieldProblem("action", "an action name of 1 to 200 characters is required"))
    if not idempotency_key or len(idempotency_key) > _MAX_KEY:
        problems.append(FieldProblem("idempotency_key", f"a key of 1 to {_MAX_KEY} characters is required"))
    if problems:
        raise ValidationFailed("the outbox item is not valid", fields=problems)
    added = await session.execute(
        pg_insert(OutboxItem)
        .values(
            tenant_id=tenant_id,
            id=new_id(),
            integration_id=integration_id,
            action=action,
            input=input,
            idempotency_key=idempotency_key,
            status="pending",
            attempts=0,
            next_attempt_at=func.now(),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(OutboxItem.id)
    )
    created = added.scalar_one_or_none()
    if created is not None:
        await notify(session, OUTBOX_CHANNEL, str(tenant_id))
        return created
    existing = (
        await session.execute(
            select(OutboxItem.id, OutboxItem.integration_id, OutboxItem.action, OutboxItem.input).where(
                OutboxItem.tenant_id == tenant_id, OutboxItem.idempotency_key == idempotency_key
            )
        )
    ).one()
    if (existing.integration_id, existing.action, existing.input) != (integration_id, action, input):
        raise Conflict(
            f"the idempotency key {idempotency_key!r} was used for another outbound call",
            fields=[FieldProblem("idempotency_key", "already used for another call", "conflict")],
        )
    item_id: uuid.UUID = existing.id
    return item_id


class _TryLater(Exception):
    """The item cannot be delivered now, through no fault of its own (a safe message)."""


class OutboxWorker(DueWorker):
    """Delivers due outbox items (see the module docstring); :meth:`run` until cancelled."""

    table = "outbox"
    channel = OUTBOX_CHANNEL

    def __init__(
        self,
        db: Database,
        settings: Settings,
        connectors: ConnectorRegistry,
        http: HttpFactory,
        *,
        backoff: Backoff | None = None,
        concurrency: int = 4,
        batch: int = 100,
        poll_seconds: float = 1.0,
    ) -> None:
        super().__init__(db, concurrency=concurrency, batch=batch, poll_seconds=poll_seconds)
        self.settings = settings
        self.connectors = connectors
        self.http = http
        self.vault = Vault.from_settings(settings)
        self.backoff = backoff or Backoff()

    async def handle(self, tenant_id: uuid.UUID, row_id: uuid.UUID) -> bool:
        """Claim item ``row_id``, deliver it and record the outcome; False if it was not there to claim."""
        claim = (
            select(OutboxItem)
            .where(
                OutboxItem.tenant_id == tenant_id,
                OutboxItem.id == row_id,
                OutboxItem.status == "pending",
                OutboxItem.next_attempt_at <= func.now(),
            )
            .with_for_update(skip_locked=True)
        )
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            item = (await session.execute(claim)).scalar_one_or_none()
            if item is None:
                return False
            attempts = item.attempts + 1
            mark = update(OutboxItem).where(OutboxItem.tenant_id == tenant_id, OutboxItem.id == row_id)
            retry_after = 0.0
            try:
                result = await self._deliver(session, item)
            except RateLimited as exc:
                failed, message, retry_after = False, safe_message(exc, item.action), exc.retry_after
            except ConnectorError as exc:
                failed, message = not exc.retryable, safe_message(exc, item.action)
            except LookupError as exc:  # the connector has no such action
                failed, message = True, str(exc)
            except _TryLater as exc:
                failed, message = False, str(exc)
            except Exception as exc:
                logger.exception("outbox item %s (%s) failed unexpectedly", row_id, item.action)
                failed, message = False, safe_message(exc, item.action)
            else:
                await session.execute(
                    mark.values(
                        status="processed",
                        attempts=attempts,
                        result=result,
                        last_error=None,
                        processed_at=func.now(),
                    )
                )
                return True
            logger.warning("outbox item %s (%s): %s", row_id, item.action, message)
            if failed or attempts >= self.backoff.max_attempts:
                values: dict[str, Any] = {"status": "failed"}
            else:
                delay = max(self.backoff.delay(attempts), retry_after)
                values = {"next_attempt_at": func.now() + timedelta(seconds=delay)}
            await session.execute(mark.values(attempts=attempts, last_error=message, **values))
            return True

    async def _deliver(self, session: AsyncSession, item: OutboxItem) -> dict[str, Any]:
        row = await session.get(Integration, (item.tenant_id, item.integration_id))
        if row is None or row.status != "active":
            raise _TryLater("the integration is disabled")
        connector = self.connectors.get(row.connector)
        if connector is None:
            raise _TryLater(f"the connector {row.connector!r} is not installed on this worker")
        integration = to_connector_integration(
            row, connector, self.vault, public_url=self.settings.public_url
        )
        ctx = ActionContext(
            integration,
            self.http.for_integration(connector, integration),
            idempotency_key=item.idempotency_key,
        )
        output = await connector.call(item.action, ctx, item.input)
        result: dict[str, Any] = output.model_dump(mode="json")
        return result


__all__ = ["OUTBOX_CHANNEL", "OutboxWorker", "enqueue"]
